import * as tf from '@tensorflow/tfjs-core';

import type { RawTensor } from '../weights/safetensors.ts';
import type { StyleGan2Config } from './config.ts';
import { firKernel } from './upfirdn.ts';

/**
 * The official constructor init as raw tensors: weights N(0,1) (mapping weights / lrMlp),
 * biases 0, modulation biases 1, noise strengths 0, noise buffers N(0,1), FIR kernels ×4.
 * Each tensor draws from its own seed (seed·1000 + index), so the result depends only on seed.
 */
export function randomTensors(
  config: StyleGan2Config,
  shapes: Map<string, number[]>,
  seed: number,
): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  let index = 0;
  for (const [key, shape] of shapes) {
    const data = initValues(key, shape, config, seed * 1000 + index++);
    out.set(key, { dtype: 'F32', shape, data });
  }
  return out;
}

function initValues(
  key: string,
  shape: number[],
  config: StyleGan2Config,
  seed: number,
): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (key.endsWith('.kernel')) return firKernel();
  if (key.endsWith('modulation.bias')) return new Float32Array(count).fill(1);
  if (key.endsWith('bias') || key.endsWith('noise.weight')) return new Float32Array(count);

  const values = tf.tidy(() => tf.randomNormal([count], 0, 1, 'float32', seed).dataSync());
  const normal = new Float32Array(values);
  if (key.startsWith('style.')) for (let i = 0; i < count; i++) normal[i] /= config.lrMlp;
  return normal;
}
