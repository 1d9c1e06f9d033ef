import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { StyleGan2Generator } from '../src/models/stylegan2/index.ts';
import {
  expectClose,
  FORWARD,
  GRADIENT,
  golden,
  goldenPath,
  goldenTensors,
  LOSS,
  nhwc,
} from './helpers/golden.ts';

// The golden README's tolerances: forward atol 1e-4 + rtol 1e-3 of max |value|, gradients
// rtol 1e-2 of max |value|. Here every conv gradient runs through nadabot's wasm kernels.
const FILE = 'stylegan2/golden.safetensors';
const PARAM_GRADS = [...goldenTensors(FILE).keys()]
  .filter((k) => k.startsWith('grad.') && k !== 'grad.w_plus')
  .map((k) => k.slice('grad.'.length));

let G: StyleGan2Generator;

beforeAll(async () => {
  const choice = await selectBackend('wasm');
  expect(choice.name).toBe('wasm');
  G = await StyleGan2Generator.load(goldenPath('stylegan2/tiny-ffhq.safetensors'));
});

afterAll(() => G?.dispose());

/** L = sum(img_wplus · r) / numel and its gradients w.r.t. W+ and the golden parameters. */
function probe(wPlus: tf.Variable, r: tf.Tensor) {
  const vars = [wPlus, ...PARAM_GRADS.map((n) => G.params.get(n)!)];
  return tf.variableGrads(() => {
    const img = G.synthesis(wPlus as unknown as tf.Tensor3D, 'const');
    return tf.div(tf.sum(tf.mul(img, r)), img.size) as tf.Scalar;
  }, vars);
}

describe('GIVEN the golden 64 px generator on the wasm backend', () => {
  it('WHEN rendering W+ THEN the image matches the official one', () => {
    const img = G.synthesis(golden(FILE, 'w_plus') as tf.Tensor3D, 'const');
    expectClose(img, nhwc(golden(FILE, 'img_wplus')), FORWARD, 'img_wplus (wasm)');
    img.dispose();
  });

  it('WHEN differentiating the probe loss THEN every golden gradient matches', () => {
    expect(PARAM_GRADS.length).toBeGreaterThanOrEqual(10);
    const wPlus = tf.variable(golden(FILE, 'w_plus'), true);
    const r = nhwc(golden(FILE, 'grad_probe_r'));
    const { value, grads } = probe(wPlus, r);

    expectClose(value, golden(FILE, 'grad_probe_loss').reshape([]), LOSS, 'probe loss (wasm)');
    expectClose(grads[wPlus.name], golden(FILE, 'grad.w_plus'), GRADIENT, 'grad.w_plus (wasm)');
    for (const n of PARAM_GRADS) {
      const expected = golden(FILE, `grad.${n}`);
      expectClose(grads[G.params.get(n)!.name], expected, GRADIENT, `grad.${n} (wasm)`);
    }
    tf.dispose([value, ...Object.values(grads), wPlus, r]);
  });

  it('WHEN the gradient is taken repeatedly THEN tf.memory() does not grow', () => {
    const wPlus = tf.variable(golden(FILE, 'w_plus'), true);
    const r = nhwc(golden(FILE, 'grad_probe_r'));
    const once = () => {
      const { value, grads } = probe(wPlus, r);
      tf.dispose([value, ...Object.values(grads)]);
    };
    once();
    const before = tf.memory();
    once();
    once();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    tf.dispose([wPlus, r]);
  });
});
