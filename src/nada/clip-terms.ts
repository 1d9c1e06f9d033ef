import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import type { ClipLossTerm } from './clip-loss.ts';
import type { EngineClip } from './models.ts';
import {
  checkDifferent,
  fitPromptToTemplates,
  plainTextFeatures,
  textDirection,
  type PromptNote,
  type TextTokenizer,
  type TokenWindow,
} from './text-direction.ts';

/** The texts of a run as encoded, after fitting them to the encoder's window. */
export interface RunTexts {
  source: string;
  target: string;
  notes: PromptNote[];
}

/**
 * Fits source and target to the window of the encoder that reads them (CLIP's 77 tokens, or a
 * multilingual encoder's), shortening at a word boundary with a note, and rejects a target
 * equal to the source, before any model work.
 *
 * @example
 * fitTexts('photo', 'sketch', clipWindow(tokenizer, 77));
 * // { source: 'photo', target: 'sketch', notes: [] }
 */
export function fitTexts(source: string, target: string, window: TokenWindow): RunTexts {
  checkDifferent(source, target);
  const s = fitPromptToTemplates(source, window);
  const t = fitPromptToTemplates(target, window);
  const notes = [s.note, t.note].filter((n): n is PromptNote => n !== undefined);
  return { source: s.text, target: t.text, notes };
}

/**
 * Encodes the run's texts once per CLIP model: the text direction, the raw target (layer
 * selection) and "a <target>" (the global term).
 */
export function buildClipTerms(
  clips: EngineClip[],
  weights: { name: string; weight: number }[],
  texts: RunTexts,
  tokenizer: TextTokenizer,
): ClipLossTerm[] {
  return weights.map(({ name, weight }) => {
    const clip = clips.find((c) => c.name === name);
    if (!clip) {
      throw new NadaError(
        'model.missing_clip',
        `CLIP model "${name}" is not part of this model (have ${clips.map((c) => c.name).join(', ')})`,
        { name },
      );
    }
    const model = clip.model;
    return {
      name,
      weight,
      model,
      direction: textDirection(texts.source, texts.target, tokenizer, model),
      targetFeatures: plainTextFeatures([texts.target], tokenizer, model),
      aTargetFeatures: plainTextFeatures([`a ${texts.target}`], tokenizer, model),
    };
  });
}

/** Frees the text tensors of the terms (the models belong to the caller). */
export function disposeClipTerms(terms: ClipLossTerm[]): void {
  for (const t of terms) tf.dispose([t.direction, t.targetFeatures, t.aTargetFeatures]);
}
