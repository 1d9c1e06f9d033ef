import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend, type BackendName } from '../../src/models/backend/index.ts';
import { StyleGan2Generator } from '../../src/models/stylegan2/index.ts';
import {
  expectClose,
  FORWARD,
  GRADIENT,
  golden,
  goldenPath,
  goldenTensors,
  LOSS,
  nhwc,
} from './golden.ts';

// The golden README's tolerances: forward atol 1e-4 + rtol 1e-3 of max |value|, losses 1e-4,
// gradients rtol 1e-2 of max |value|. The conv gradients run through nadabot's kernels for
// the backend under test. One test file per backend calls describeGeneratorProbe.
const FILE = 'stylegan2/golden.safetensors';
const PARAM_GRADS = [...goldenTensors(FILE).keys()]
  .filter((k) => k.startsWith('grad.') && k !== 'grad.w_plus')
  .map((k) => k.slice('grad.'.length));

let G: StyleGan2Generator;

/** L = sum(img_wplus · r) / numel and its gradients w.r.t. W+ and the golden parameters. */
function probe(wPlus: tf.Variable, r: tf.Tensor) {
  const vars = [wPlus, ...PARAM_GRADS.map((n) => G.params.get(n)!)];
  return tf.variableGrads(() => {
    const img = G.synthesis(wPlus as unknown as tf.Tensor3D, 'const');
    return tf.div(tf.sum(tf.mul(img, r)), img.size) as tf.Scalar;
  }, vars);
}

/** The golden image and probe gradients of the 64 px generator on one backend. */
export function describeGeneratorProbe(backend: BackendName): void {
  describe(`GIVEN the golden 64 px generator on the ${backend} backend`, () => {
    beforeAll(async () => {
      const choice = await selectBackend(backend);
      expect(choice.name).toBe(backend);
      G = await StyleGan2Generator.load(goldenPath('stylegan2/tiny-ffhq.safetensors'));
    });

    afterAll(() => G?.dispose());

    it('WHEN rendering W+ THEN the image matches the official one', () => {
      const img = G.synthesis(golden(FILE, 'w_plus') as tf.Tensor3D, 'const');
      expectClose(img, nhwc(golden(FILE, 'img_wplus')), FORWARD, `img_wplus (${backend})`);
      img.dispose();
    });

    it('WHEN differentiating the probe loss THEN every golden gradient matches', () => {
      expect(PARAM_GRADS.length).toBeGreaterThanOrEqual(10);
      const wPlus = tf.variable(golden(FILE, 'w_plus'), true);
      const r = nhwc(golden(FILE, 'grad_probe_r'));
      const { value, grads } = probe(wPlus, r);

      expectClose(
        value,
        golden(FILE, 'grad_probe_loss').reshape([]),
        LOSS,
        `probe loss (${backend})`,
      );
      expectClose(
        grads[wPlus.name],
        golden(FILE, 'grad.w_plus'),
        GRADIENT,
        `grad.w_plus (${backend})`,
      );
      for (const n of PARAM_GRADS) {
        const expected = golden(FILE, `grad.${n}`);
        expectClose(grads[G.params.get(n)!.name], expected, GRADIENT, `grad.${n} (${backend})`);
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
}
