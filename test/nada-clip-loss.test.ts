import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { ClipModel, ClipTokenizer, clipConfigFromJson } from '../src/models/clip/index.ts';
import { readSafetensors } from '../src/models/weights/safetensors.ts';
import {
  clipDirectionalLoss,
  clipDirectionalLossPerSample,
  globalClipLoss,
  imageFeatures,
  nadaClipLoss,
  type ClipLossTerm,
} from '../src/nada/clip-loss.ts';
import { fillTemplates } from '../src/nada/templates.ts';
import {
  clipWindow,
  directionFromFeatures,
  fitPromptToTemplates,
  l2Normalize,
  plainTextFeatures,
  textDirection,
} from '../src/nada/text-direction.ts';
import { isNadaError } from '../src/errors.ts';
import {
  expectClose,
  FORWARD,
  golden,
  goldenPath,
  GRADIENT,
  LOSS,
  nhwc,
} from './helpers/golden.ts';
import { readFileSync } from 'node:fs';

// Goldens: test/fixtures/golden/nada/clip_loss_golden.safetensors, produced by NADA's CLIPLoss
// with the tiny CLIP (source "photo", target "sketch"). Tolerances as the golden README:
// forward atol 1e-4 + rtol 1e-3, gradients rtol 1e-2 of the tensor's max |value|.
const G = 'nada/clip_loss_golden.safetensors';

let clip: ClipModel;
let tokenizer: ClipTokenizer;
let src: tf.Tensor4D;
let tgt: tf.Tensor4D;

beforeAll(async () => {
  await selectBackend();
  const config = clipConfigFromJson(
    JSON.parse(readFileSync(goldenPath('clip/config.json'), 'utf8')),
  );
  clip = ClipModel.fromTensors(
    readSafetensors(goldenPath('clip/tiny-clip-openai.safetensors')).tensors,
    config,
  );
  tokenizer = ClipTokenizer.load();
  src = nhwc(golden(G, 'src_img'));
  tgt = nhwc(golden(G, 'tgt_img'));
});

describe('text direction', () => {
  it('fills the 79 templates and tokenizes them as the official code', () => {
    for (const [cls, key] of [
      ['photo', 'text.source_tokens'],
      ['sketch', 'text.target_tokens'],
    ]) {
      const tokens = tokenizer.tokenize(fillTemplates(cls));
      expect(Array.from(tokens.dataSync())).toEqual(Array.from(golden(G, key).dataSync()));
    }
  });

  it('normalises each template feature and averages target − source', () => {
    const feats = (key: string) => l2Normalize(clip.encodeText(golden(G, key) as tf.Tensor2D));
    const source = feats('text.source_tokens');
    const target = feats('text.target_tokens');
    expectClose(source, golden(G, 'text.source_features'), FORWARD, 'source features');
    expectClose(target, golden(G, 'text.target_features'), FORWARD, 'target features');
    expectClose(
      directionFromFeatures(source, target),
      golden(G, 'text.direction'),
      FORWARD,
      'direction',
    );
  });

  it('gives the golden direction from the texts alone', () => {
    const dir = textDirection('photo', 'sketch', tokenizer, clip);
    expectClose(dir, golden(G, 'text.direction'), FORWARD, 'textDirection(photo → sketch)');
  });

  it('GIVEN a target equal to the source THEN refuses before encoding anything', () => {
    expect(() => textDirection('photo', ' Photo ', tokenizer, clip)).toThrow(/same as the source/);
  });

  it('GIVEN texts CLIP cannot tell apart (they differ only in HTML escaping) THEN no_direction', () => {
    // The tokenizer unescapes HTML, so both give the same ids and a zero-length direction.
    try {
      textDirection('cat &amp; dog', 'cat & dog', tokenizer, clip);
      expect.unreachable('should have thrown');
    } catch (err) {
      expect(isNadaError(err, 'prompt.no_direction')).toBe(true);
    }
  });

  it('GIVEN a long Japanese prompt WHEN templates overflow 77 tokens THEN shortens it with a note', () => {
    const long =
      '日本人女性の肖像画、油絵、柔らかな光、印象派の筆致、金色の額縁に入った古い美術館の作品';
    const longest = Math.max(...fillTemplates(long).map((s) => tokenizer.encode(s).length + 2));
    expect(longest).toBeGreaterThan(77);
    const fitted = fitPromptToTemplates(long, clipWindow(tokenizer, 77));
    expect(fitted.note?.code).toBe('prompt.shortened');
    expect(long.startsWith(fitted.text)).toBe(true);
    for (const s of fillTemplates(fitted.text))
      expect(tokenizer.encode(s).length + 2).toBeLessThanOrEqual(77);
    // The shortened text encodes without error.
    expect(textDirection('photo', fitted.text, tokenizer, clip).shape).toEqual([1, 48]);
  });

  it('GIVEN a long English prompt THEN cuts at a word boundary', () => {
    const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const fitted = fitPromptToTemplates(long, clipWindow(tokenizer, 77));
    expect(long.startsWith(fitted.text)).toBe(true);
    expect(long[fitted.text.length]).toBe(' ');
  });
});

describe('CLIP losses', () => {
  let direction: tf.Tensor2D;
  beforeAll(() => {
    direction = golden(G, 'text.direction') as tf.Tensor2D;
  });

  it('preprocesses and encodes generator images as NADA', () => {
    expectClose(imageFeatures(clip, src), golden(G, 'image_features.src'), FORWARD, 'features src');
    expectClose(imageFeatures(clip, tgt), golden(G, 'image_features.tgt'), FORWARD, 'features tgt');
  });

  it('computes the directional loss, per sample and mean', () => {
    const per = clipDirectionalLossPerSample(clip, direction, src, tgt);
    expectClose(per, golden(G, 'direction_loss.per_sample'), LOSS, 'direction per sample');
    const loss = clipDirectionalLoss(clip, direction, src, tgt);
    expectClose(loss.reshape([1]), golden(G, 'direction_loss'), LOSS, 'direction loss');
  });

  it('back-propagates the directional loss to the target images', () => {
    const grad = tf.grad((x: tf.Tensor) =>
      clipDirectionalLoss(clip, direction, src, x as tf.Tensor4D),
    )(tgt);
    expectClose(grad, nhwc(golden(G, 'direction_loss.grad_tgt')), GRADIENT, 'd loss / d tgt');
  });

  it('GIVEN identical images WHEN the edit direction is exactly zero THEN nudges the target by 1e-6', () => {
    const loss = clipDirectionalLoss(clip, direction, src, src).dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
  });

  it('computes the global loss with the raw class text and with "a sketch"', () => {
    const sketch = plainTextFeatures(['sketch'], tokenizer, clip);
    const aSketch = plainTextFeatures(['a sketch'], tokenizer, clip);
    const g1 = globalClipLoss(clip, tgt, sketch);
    expectClose(g1.reshape([1]), golden(G, 'global_loss.sketch'), LOSS, 'global sketch');
    const g2 = globalClipLoss(clip, tgt, aSketch);
    expectClose(g2.reshape([1]), golden(G, 'global_loss.a_sketch'), LOSS, 'global a sketch');
    const grad = tf.grad((x: tf.Tensor) => globalClipLoss(clip, x as tf.Tensor4D, sketch))(tgt);
    expectClose(grad, nhwc(golden(G, 'global_loss.sketch.grad_img')), GRADIENT, 'd global / d img');
  });

  it('sums the CLIPLoss forward with lambda_direction and lambda_global', () => {
    const term: ClipLossTerm = {
      name: 'ViT-B/32',
      weight: 1,
      model: clip,
      direction,
      targetFeatures: plainTextFeatures(['sketch'], tokenizer, clip),
      aTargetFeatures: plainTextFeatures(['a sketch'], tokenizer, clip),
    };
    const only = nadaClipLoss([term], src, tgt, { lambdaDirection: 1, lambdaGlobal: 0 });
    expectClose(only.reshape([1]), golden(G, 'forward.dir1_only'), LOSS, 'forward dir1_only');
    const both = nadaClipLoss([term], src, tgt, { lambdaDirection: 1, lambdaGlobal: 0.5 });
    expectClose(both.reshape([1]), golden(G, 'forward.dir1_glob0.5'), LOSS, 'forward dir1_glob0.5');
    // Two models with weights 1 and 0.5 sum to 1.5× one model.
    const two = nadaClipLoss([term, { ...term, weight: 0.5 }], src, tgt, {
      lambdaDirection: 1,
      lambdaGlobal: 0,
    });
    expect(two.dataSync()[0]).toBeCloseTo(1.5 * only.dataSync()[0], 5);
  });
});
