import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

import { readSafetensors, type RawTensor } from '../../src/models/weights/safetensors.ts';

/** Absolute path of a file under test/fixtures/golden. */
export function goldenPath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/golden/${rel}`, import.meta.url));
}

const cache = new Map<string, Map<string, RawTensor>>();

/** All tensors of a golden safetensors file, read once per process. */
export function goldenTensors(rel: string): Map<string, RawTensor> {
  let t = cache.get(rel);
  if (!t) {
    t = readSafetensors(goldenPath(rel)).tensors;
    cache.set(rel, t);
  }
  return t;
}

/** One golden tensor as a tfjs tensor (NCHW images stay NCHW; transpose in the test). */
export function golden(rel: string, name: string): tf.Tensor {
  const raw = goldenTensors(rel).get(name);
  if (!raw) throw new Error(`golden ${rel} has no tensor "${name}"`);
  return tf.tensor(raw.data, raw.shape, raw.dtype === 'I32' ? 'int32' : 'float32');
}

/** NCHW → NHWC. */
export function nhwc(t: tf.Tensor): tf.Tensor4D {
  return tf.transpose(t as tf.Tensor4D, [0, 2, 3, 1]);
}

export interface Tolerance {
  atol: number;
  /** relative to max |expected| over the whole tensor */
  rtol: number;
}

/** The golden README's suggestion for forward values. */
export const FORWARD: Tolerance = { atol: 1e-4, rtol: 1e-3 };
/** The golden README's suggestion for losses (scalars of about 1). */
export const LOSS: Tolerance = { atol: 1e-4, rtol: 0 };
/** The golden README's suggestion for gradients and post-Adam parameters. */
export const GRADIENT: Tolerance = { atol: 0, rtol: 1e-2 };

/**
 * Asserts |actual − expected| ≤ atol + rtol·max|expected| element-wise, printing the max error.
 * Returns the max absolute error.
 */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number>,
  expected: tf.Tensor | ArrayLike<number>,
  tol: Tolerance,
  label: string,
): number {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const e = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  }
  expect(a.length, `${label}: element count`).toBe(e.length);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < e.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - e[i]));
    maxRef = Math.max(maxRef, Math.abs(e[i]));
  }
  const limit = tol.atol + tol.rtol * maxRef;
  console.log(`${label}: max abs err ${maxAbs.toExponential(2)} (limit ${limit.toExponential(2)})`);
  expect(Number.isFinite(maxAbs), `${label}: finite`).toBe(true);
  expect(maxAbs, label).toBeLessThanOrEqual(limit);
  return maxAbs;
}
