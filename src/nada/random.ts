import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';

/**
 * Where the training loop gets its random numbers. Every draw is named by the step it belongs
 * to and its purpose, so a run can be replayed (recorded tensors) or resumed mid-way (the
 * seeded source derives each draw from (seed, step, purpose), not from a running stream).
 *
 * Purposes used by the loop, per step: `z`, `layersel.z`, `layersel.<i>.noise.<k>`,
 * `frozen.noise.<k>`, `trainable.noise.<k>`; for previews (step 0): `preview.z`,
 * `preview.frozen.noise.<k>`, `preview.trainable.noise.<k>`.
 */
export interface RandomSource {
  /** Standard-normal float32 draws of `shape` for (step, purpose); same inputs, same numbers. */
  normal(shape: number[], step: number, purpose: string): tf.Tensor;
}

/**
 * A seeded source: each (seed, step, purpose) hashes to its own PRNG state, and Box–Muller
 * turns its uniforms into normals. Backend-independent (numbers are made in JS).
 *
 * @example
 * const rng = new SeededRandom(7);
 * rng.normal([2, 64], 0, 'z'); // same tensor every time, on any backend
 */
export class SeededRandom implements RandomSource {
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed;
  }

  normal(shape: number[], step: number, purpose: string): tf.Tensor {
    return tf.tensor(normalArray(sizeOf(shape), `${this.seed}:${step}:${purpose}`), shape);
  }
}

/**
 * Replays recorded draws: `key(step, purpose)` names the recorded tensor. Recorded NCHW noise
 * with one channel has the same memory order as NHWC, so it is reshaped to what is asked.
 */
export class RecordedRandom implements RandomSource {
  private readonly tensors: Map<string, tf.Tensor>;
  private readonly key: (step: number, purpose: string) => string;

  constructor(tensors: Map<string, tf.Tensor>, key: (step: number, purpose: string) => string) {
    this.tensors = tensors;
    this.key = key;
  }

  normal(shape: number[], step: number, purpose: string): tf.Tensor {
    const name = this.key(step, purpose);
    const t = this.tensors.get(name);
    if (!t || t.size !== sizeOf(shape)) {
      throw new NadaError(
        'random.not_recorded',
        `no recorded draw "${name}" of shape [${shape}] (have ${t ? `[${t.shape}]` : 'none'})`,
        { step, purpose },
      );
    }
    return tf.reshape(t, shape);
  }
}

/** A 32-bit seed derived from any string (for APIs that take a numeric seed). */
export function deriveSeed(text: string): number {
  return hash32(text);
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function normalArray(n: number, key: string): Float32Array {
  const next = sfc32(hash32(key), hash32(`${key}#1`), hash32(`${key}#2`), hash32(`${key}#3`));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    // Box–Muller; 1 − u keeps the log argument in (0, 1].
    const u1 = 1 - next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

// FNV-1a followed by a murmur3 finaliser: a well-mixed 32-bit hash of a string.
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// sfc32: a small, fast PRNG with a 128-bit state; returns uniforms in [0, 1).
function sfc32(a: number, b: number, c: number, d: number): () => number {
  for (let i = 0; i < 12; i++) step();
  return step;

  function step(): number {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
}
