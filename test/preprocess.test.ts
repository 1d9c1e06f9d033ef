import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import {
  bicubicMatrix,
  bicubicResize,
  centerCrop,
  ClipModel,
  clipConfigFromJson,
  nadaPreprocess,
  resizedShape,
} from '../src/models/clip/index.ts';
import { expectClose, FORWARD, GRADIENT, golden, goldenPath, nhwc } from './helpers/golden.ts';

// Tolerances: the golden README's (forward atol 1e-4 + rtol 1e-3 of max |value|;
// gradients rtol 1e-2 of max |value|).
const FILE = 'nada/clip_loss_golden.safetensors';
const g = (name: string) => golden(FILE, name);

let clip: ClipModel;

beforeAll(async () => {
  await selectBackend();
  const config = clipConfigFromJson(
    JSON.parse(readFileSync(goldenPath('clip/config.json'), 'utf8')),
  );
  clip = await ClipModel.load(goldenPath('clip/tiny-clip-openai.safetensors'), config);
});

afterAll(() => clip?.dispose());

describe('bicubic resize (PyTorch bicubic, a = −0.75, no antialias)', () => {
  it('downsamples 64 → 24 (a non-integer ratio) as torch does', () => {
    const out = bicubicResize(nhwc(g('resize.in_64x64')), 24, 24);
    expectClose(out, nhwc(g('resize.out_24_bicubic')), FORWARD, 'resize 64→24');
  });

  it('upsamples 64 → 224 as torch does', () => {
    const out = bicubicResize(nhwc(g('resize.in_64x64')), 224, 224);
    expectClose(out, nhwc(g('resize.out_64x64_to_224_bicubic')), FORWARD, 'resize 64→224');
  });

  it('resizes the shorter side of 48×64 to 28 (→ 28×37) and centre-crops like torchvision', () => {
    expect(resizedShape(48, 64, 28)).toEqual([28, 37]);
    const resized = bicubicResize(nhwc(g('resize.in_48x64')), 28, 37);
    expectClose(resized, nhwc(g('resize.out_48x64_resize28')), FORWARD, 'resize 48×64→28×37');
    // (37 − 28) / 2 = 4.5 rounds to 4 (half to even), not 5
    const cropped = centerCrop(resized, 28, 28);
    expectClose(cropped, nhwc(g('resize.out_48x64_resize28_crop28')), FORWARD, 'crop 28');
  });

  it('has interpolation rows that sum to one and clamp at the border', () => {
    const m = bicubicMatrix(64, 24);
    for (let row = 0; row < 24; row++) {
      const sum = m.subarray(row * 64, row * 64 + 64).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 6);
    }
    expect(bicubicMatrix(64, 24)).toBe(m); // cached per (in, out)
  });
});

describe('nadaPreprocess', () => {
  it.each(['src', 'tgt'])('GIVEN the %s generator images THEN it matches NADA', (which) => {
    const out = nadaPreprocess(nhwc(g(`${which}_img`)), 32);
    expectClose(out, nhwc(g(`preprocess.${which}`)), FORWARD, `preprocess.${which}`);
  });

  it('is not the antialiased resize of newer torchvision', () => {
    const out = nadaPreprocess(nhwc(g('src_img')), 32);
    const diff = tf.max(tf.abs(tf.sub(out, nhwc(g('preprocess.src_if_antialias')))));
    expect(diff.dataSync()[0]).toBeGreaterThan(0.1);
  });
});

describe('gradients through preprocessing and the image encoder', () => {
  // global_clip_loss of NADA: mean(1 − exp(logit_scale) · cos(image, text) / 100)
  function globalLoss(images: tf.Tensor4D, text: tf.Tensor2D): tf.Scalar {
    const img = clip.encodeImage(nadaPreprocess(images, 32));
    const cos = tf.sum(
      tf.mul(
        tf.div(img, tf.norm(img, 'euclidean', 1, true)),
        tf.div(text, tf.norm(text, 'euclidean', 1, true)),
      ),
      1,
    );
    return tf.mean(tf.sub(1, tf.mul(cos, Math.exp(clip.logitScale) / 100)));
  }

  it('GIVEN the golden global loss THEN value and image gradient match NADA', () => {
    const tgt = nhwc(g('tgt_img'));
    const text = clip.encodeText(g('global_loss.tokens_sketch') as tf.Tensor2D);
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => globalLoss(x as tf.Tensor4D, text))(
      tgt,
    );
    expectClose(value, tf.reshape(g('global_loss.sketch'), []), FORWARD, 'global loss');
    expectClose(grad, nhwc(g('global_loss.sketch.grad_img')), GRADIENT, 'd loss / d image');
    const values = grad.dataSync();
    expect(values.every(Number.isFinite)).toBe(true);
    expect(values.some((v) => v !== 0)).toBe(true);
  });

  it('WHEN the loss is differentiated repeatedly THEN no tensor is left behind', () => {
    const tgt = nhwc(g('tgt_img'));
    const text = clip.encodeText(g('global_loss.tokens_sketch') as tf.Tensor2D);
    const step = () => {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => globalLoss(x as tf.Tensor4D, text))(
        tgt,
      );
      tf.dispose([value, grad]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([tgt, text]);
  });
});
