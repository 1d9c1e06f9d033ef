import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import { fillTemplates } from './templates.ts';

/** What the text side needs from a CLIP tokenizer (`ClipTokenizer` fits). */
export interface TextTokenizer {
  /** BPE ids without SOT/EOT */
  encode(text: string): number[];
  /** int32 [n, contextLength] with SOT/EOT, zero padded */
  tokenize(texts: string[], opts?: { contextLength?: number; truncate?: boolean }): tf.Tensor2D;
}

/** What the text side needs from a CLIP model (`ClipModel` fits). */
export interface TextModel {
  readonly config: { contextLength: number };
  encodeText(tokens: tf.Tensor2D): tf.Tensor2D;
}

/** A prompt changed to fit CLIP's context, reported to the person as a run note. */
export interface PromptNote {
  code: 'prompt.shortened';
  message: string;
  original: string;
  used: string;
}

/** Each row divided by its L2 norm (as `x / x.norm(dim=-1, keepdim=True)`). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.norm(x, 'euclidean', -1, true)) as tf.Tensor2D);
}

/**
 * Shortens `text` until every template filled with it fits CLIP's context (SOT + ids + EOT),
 * cutting at the last space, or at the last character when the text has no spaces (Japanese,
 * Chinese). Returns the text unchanged when it already fits.
 *
 * @example
 * fitPromptToTemplates('a very … long prompt', tokenizer, 77); // { text: 'a very …', note }
 */
export function fitPromptToTemplates(
  text: string,
  tokenizer: TextTokenizer,
  contextLength: number,
): { text: string; note?: PromptNote } {
  const fits = (t: string): boolean =>
    fillTemplates(t).every((s) => tokenizer.encode(s).length + 2 <= contextLength);
  let used = text.trim();
  while (used.length > 0 && !fits(used)) used = cutOnce(used);
  if (used === text.trim()) return { text: used };
  if (used.length === 0) {
    throw new NadaError(
      'prompt.too_long',
      `"${text}" does not fit CLIP's ${contextLength} tokens`,
      {
        text,
      },
    );
  }
  const message =
    `the prompt is longer than CLIP's ${contextLength} tokens inside its templates; ` +
    `trained on "${used}"`;
  return { text: used, note: { code: 'prompt.shortened', message, original: text, used } };
}

function cutOnce(text: string): string {
  const space = text.trimEnd().lastIndexOf(' ');
  if (space > 0) return text.slice(0, space).trimEnd();
  return [...text].slice(0, -1).join('');
}

/**
 * CLIP text features of one class text over the 79 templates, each row L2-normalised:
 * [79, embed]. (Official `get_text_features`.)
 */
export function templateFeatures(
  text: string,
  tokenizer: TextTokenizer,
  model: TextModel,
): tf.Tensor2D {
  return tf.tidy(() => {
    const tokens = tokenizer.tokenize(fillTemplates(text), {
      contextLength: model.config.contextLength,
    });
    return l2Normalize(model.encodeText(tokens));
  });
}

/**
 * The text direction from normalised template features: mean over templates of
 * (target − source), normalised: [1, embed]. (Official `compute_text_direction`.)
 * A direction of (near) zero length means the texts say the same thing to CLIP.
 */
export function directionFromFeatures(source: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor2D {
  const direction = tf.tidy(() => tf.mean(tf.sub(target, source), 0, true) as tf.Tensor2D);
  const norm = tf.tidy(() => tf.norm(direction).dataSync()[0]);
  if (!(norm > 1e-6)) {
    direction.dispose();
    throw new NadaError(
      'prompt.no_direction',
      'the target and source texts mean the same thing to CLIP (their text direction has ' +
        'zero length): describe the target differently',
      { norm },
    );
  }
  const out = tf.tidy(() => tf.div(direction, norm) as tf.Tensor2D);
  direction.dispose();
  return out;
}

/**
 * Text direction Δt for (source → target) with one CLIP model: [1, embed], unit length.
 * Throws `prompt.same_as_source` when the texts are equal, `prompt.no_direction` when CLIP
 * cannot tell them apart.
 *
 * @example
 * textDirection('photo', 'sketch', tokenizer, clip).shape; // [1, 512]
 */
export function textDirection(
  source: string,
  target: string,
  tokenizer: TextTokenizer,
  model: TextModel,
): tf.Tensor2D {
  checkDifferent(source, target);
  const src = templateFeatures(source, tokenizer, model);
  const tgt = templateFeatures(target, tokenizer, model);
  try {
    return directionFromFeatures(src, tgt);
  } finally {
    src.dispose();
    tgt.dispose();
  }
}

/** Rejects a target equal to the source (after trimming and case folding). */
export function checkDifferent(source: string, target: string): void {
  const norm = (s: string): string => s.trim().replace(/\s+/g, ' ').toLowerCase();
  if (norm(source) === norm(target)) {
    throw new NadaError(
      'prompt.same_as_source',
      `the target "${target}" is the same as the source "${source}": nothing to adapt toward`,
      { source, target },
    );
  }
}

/** Normalised CLIP features of plain texts (no templates): [n, embed]. */
export function plainTextFeatures(
  texts: string[],
  tokenizer: TextTokenizer,
  model: TextModel,
): tf.Tensor2D {
  return tf.tidy(() => {
    const tokens = tokenizer.tokenize(texts, {
      contextLength: model.config.contextLength,
      truncate: true,
    });
    return l2Normalize(model.encodeText(tokens));
  });
}
