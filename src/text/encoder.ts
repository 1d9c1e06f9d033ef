import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { NadaError } from '../errors.ts';
import type { Script } from './script.ts';

/**
 * Anything that turns texts into vectors of one CLIP model's embedding space: CLIP's own
 * (English) text encoder, or a multilingual encoder trained to land in that space.
 */
export interface TextEncoder {
  /** stable name for logs and run metadata, e.g. 'mclip-xlmr-large-vit-b-32' */
  readonly id: string;
  readonly kind: 'clip' | 'multilingual';
  /** the CLIP model whose space the vectors live in, e.g. 'ViT-B/32' */
  readonly space: string;
  /** output size, equal to that space's embedding size */
  readonly dim: number;
  /** ISO 639-1 codes served, or 'any' */
  readonly languages: readonly string[] | 'any';
  /** scripts served, or 'any' */
  readonly scripts: readonly Script[] | 'any';
  /** the tokenizer removes accents and kana voicing marks (uncased BERT: パンダ → ハンタ) */
  readonly stripsMarks: boolean;
  /** hash of the weights, so caches of its outputs can tell models apart */
  readonly weightsHash: string;
  /** most tokens one text may take, special tokens included (longer → `text.too_long`) */
  readonly maxTokens: number;
  /** tokens of one text as this encoder reads it, special tokens included */
  countTokens(text: string): number;
  /** one vector per text, [dim] each, not normalised */
  encode(texts: string[]): Promise<Float32Array[]>;
  dispose(): void;
}

/** Embedding sizes of the CLIP models multilingual encoders are released for. */
export const CLIP_SPACE_DIMS: Record<string, number> = {
  RN50: 1024,
  RN101: 512,
  RN50x4: 640,
  'ViT-B/32': 512,
  'ViT-B/16': 512,
  'ViT-B/16+': 640,
  'ViT-L/14': 768,
  'ViT-L/14@336px': 768,
};

/**
 * The size of a space: what the caller declares (the tiny demo models keep the real names but
 * have small spaces), else the released model's size.
 */
export function spaceDim(space: string, declared?: number): number {
  const dim = declared ?? CLIP_SPACE_DIMS[space];
  if (dim === undefined) {
    throw new NadaError(
      'encoder.unknown_space',
      `no embedding size known for CLIP space "${space}": pass its size (spaceDim) when loading`,
      { space },
    );
  }
  return dim;
}

/** Throws `encoder.dim_mismatch` unless the encoder's output size equals its space's size. */
export function checkDim(id: string, space: string, expected: number, actual: number): void {
  if (actual !== expected) throw dimMismatch(id, space, expected, actual);
}

function dimMismatch(id: string, space: string, expected: number, actual: number): NadaError {
  return new NadaError(
    'encoder.dim_mismatch',
    `${id} gives ${actual}-dimensional vectors but CLIP space ${space} is ${expected}-dimensional: ` +
      'the encoder was trained for another CLIP model; load it for the space it was made for',
    { id, space, expected, actual },
  );
}

/** First 16 hex digits of the SHA-256 of the files' bytes, in order. */
export function hashFiles(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) h.update(readFileSync(p));
  return h.digest('hex').slice(0, 16);
}

/** Rows of a flat [n, dim] buffer as separate vectors. */
export function splitRows(flat: Float32Array, n: number, dim: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => flat.slice(i * dim, (i + 1) * dim));
}

/**
 * Encodes texts `batchSize` at a time, in order, so a long template list never builds one
 * huge batch.
 */
export async function encodeInBatches(
  texts: string[],
  batchSize: number,
  encodeChunk: (chunk: string[]) => Promise<Float32Array[]>,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += batchSize) {
    out.push(...(await encodeChunk(texts.slice(i, i + batchSize))));
  }
  return out;
}

/** True when the encoder serves the language (or its base subtag) and every script given. */
export function serves(enc: TextEncoder, language: string, scripts: readonly Script[]): boolean {
  const lang = language.split('-')[0];
  const langOk = enc.languages === 'any' || enc.languages.includes(lang);
  const allScripts = enc.scripts;
  const scriptOk = allScripts === 'any' || scripts.every((s) => allScripts.includes(s));
  return langOk && scriptOk;
}
