import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';

const loads = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
const hasNative = loads('@tensorflow/tfjs-node') || loads('@tensorflow/tfjs-node-gpu');

afterEach(() => {
  delete process.env.NADABOT_BACKEND;
});

describe('selectBackend', () => {
  it('GIVEN no preference THEN it takes native TensorFlow if installed, else wasm with gradient kernels', async () => {
    const choice = await selectBackend();
    expect(choice.name).toBe(hasNative ? 'tensorflow' : 'wasm');
    expect(tf.getBackend()).toBe(choice.name);
    if (!hasNative) {
      expect(choice.reason).toMatch(/native TensorFlow is not installed; WebAssembly/);
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    }
  });

  it('GIVEN NADABOT_BACKEND=cpu THEN it overrides the preferred backend', async () => {
    process.env.NADABOT_BACKEND = 'cpu';
    const choice = await selectBackend('wasm');
    expect(choice).toEqual({ name: 'cpu', reason: 'requested' });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('GIVEN an unknown NADABOT_BACKEND THEN it refuses, naming the variable and the choices', async () => {
    process.env.NADABOT_BACKEND = 'webgl';
    const err = await selectBackend().catch((e: unknown) => e);
    expect(isNadaError(err, 'backend.unknown')).toBe(true);
    expect((err as Error).message).toContain('NADABOT_BACKEND is "webgl"');
    expect((err as Error).message).toContain('tensorflow, wasm, cpu');
  });

  it.skipIf(hasNative)(
    'GIVEN NADABOT_BACKEND=tensorflow without tfjs-node THEN it fails, not falls back',
    async () => {
      process.env.NADABOT_BACKEND = 'tensorflow';
      const err = await selectBackend().catch((e: unknown) => e);
      expect(isNadaError(err, 'backend.unavailable')).toBe(true);
      expect(tf.getBackend()).not.toBe('tensorflow');
    },
  );

  it('GIVEN each fallback backend THEN a conv2dTranspose gradient runs on it', async () => {
    for (const name of ['wasm', 'cpu'] as const) {
      await selectBackend(name);
      const x = tf.ones([1, 3, 3, 2]) as tf.Tensor4D;
      const w = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
      const dw = tf.grad((f: tf.Tensor) =>
        tf.sum(tf.conv2dTranspose(x, f as tf.Tensor4D, [1, 7, 7, 2], 2, 'valid')),
      )(w);
      // Every filter tap meets every input pixel once: 9 pixels per (in, out) pair.
      expect(Array.from(await dw.data())).toEqual(new Array(36).fill(9));
      tf.dispose([x, w, dw]);
    }
  });
});
