import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import { comparableText } from '../text/normalise.ts';
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

/** A prompt changed to fit an encoder's window, reported to the person as a run note. */
export interface PromptNote {
  code: 'prompt.shortened';
  message: string;
  original: string;
  used: string;
}

/**
 * How many tokens one text takes in a text encoder, and how many it reads: CLIP's 77-token
 * context, or the learned positions of a multilingual encoder.
 */
export interface TokenWindow {
  /** the encoder, in messages: 'CLIP', 'tiny-xlmr' */
  name: string;
  /** most tokens one text may take, special tokens included */
  maxTokens: number;
  /** tokens of one text, special tokens included */
  count(text: string): number;
}

/** CLIP's window: SOT + BPE ids + EOT within the context length. */
export function clipWindow(tokenizer: TextTokenizer, contextLength: number): TokenWindow {
  return {
    name: 'CLIP',
    maxTokens: contextLength,
    count: (text) => tokenizer.encode(text).length + 2,
  };
}

/** Each row divided by its L2 norm (as `x / x.norm(dim=-1, keepdim=True)`). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.norm(x, 'euclidean', -1, true)) as tf.Tensor2D);
}

/**
 * Shortens `text` until every template filled with it fits the encoder's window, cutting at
 * the last space, or at the last character when the text has no spaces (Japanese, Chinese).
 * Returns the text unchanged when it already fits. A window the templates alone overflow →
 * `encoder.window_too_small` (no template sentence is quoted to the person).
 *
 * @example
 * fitPromptToTemplates('a very … long prompt', clipWindow(tokenizer, 77));
 * // { text: 'a very …', note }
 */
export function fitPromptToTemplates(
  text: string,
  window: TokenWindow,
): { text: string; note?: PromptNote } {
  const fits = (t: string): boolean =>
    fillTemplates(t).every((s) => window.count(s) <= window.maxTokens);
  let used = text.trim();
  while (used.length > 0 && !fits(used)) used = cutOnce(used);
  if (used === text.trim()) return { text: used };
  if (used.length === 0) throw windowTooSmall(text, window);

  const message =
    `the prompt is longer than ${window.name}'s ${window.maxTokens} tokens inside its ` +
    `templates; trained on "${used}"`;
  return { text: used, note: { code: 'prompt.shortened', message, original: text, used } };
}

function windowTooSmall(text: string, window: TokenWindow): NadaError {
  // Cut down to one character, the text still overflows: the templates themselves do.
  return new NadaError(
    'encoder.window_too_small',
    `${window.name} reads at most ${window.maxTokens} tokens, fewer than NADA's prompt ` +
      `templates take with even one character of "${text}" in them: this encoder cannot ` +
      'run NADA; ask the operator to load one with a longer window',
    { text, encoder: window.name, limit: window.maxTokens },
  );
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

/** Rejects a target equal to the source (spaces collapsed, case folded, as the chat compares). */
export function checkDifferent(source: string, target: string): void {
  if (comparableText(source) === comparableText(target)) {
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
