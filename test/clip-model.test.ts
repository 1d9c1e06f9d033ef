import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import {
  CLIP_CONFIGS,
  ClipModel,
  clipConfigFromJson,
  type ClipConfig,
  type ClipTaps,
} from '../src/models/clip/index.ts';
import { readSafetensors, type RawTensor } from '../src/models/weights/safetensors.ts';
import { expectClose, FORWARD, golden, goldenPath, nhwc } from './helpers/golden.ts';

// Tolerance: the golden README's forward one (atol 1e-4 + rtol 1e-3 of max |value|).
const FILE = 'clip/golden.safetensors';
const g = (name: string) => golden(FILE, name);

const config = clipConfigFromJson(JSON.parse(readFileSync(goldenPath('clip/config.json'), 'utf8')));
const openAiTensors = () =>
  readSafetensors(goldenPath('clip/tiny-clip-openai.safetensors')).tensors;
const hfTensors = () => readSafetensors(goldenPath('clip/tiny-clip-hf.safetensors')).tensors;

let openai: ClipModel;
let hf: ClipModel;

beforeAll(async () => {
  await selectBackend();
  openai = ClipModel.fromTensors(openAiTensors(), config);
  hf = await ClipModel.load(goldenPath('clip/tiny-clip-hf.safetensors'), config);
});

afterAll(() => {
  openai?.dispose();
  hf?.dispose();
});

function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.norm(x, 'euclidean', 1, true));
}

describe('config', () => {
  it('takes the golden model head counts from config.json, not from widths', () => {
    expect(config).toEqual(CLIP_CONFIGS.tiny);
    expect(config).toEqual({
      embedDim: 48,
      imageResolution: 32,
      visionPatchSize: 8,
      visionWidth: 64,
      visionLayers: 2,
      visionHeads: 4,
      contextLength: 77,
      vocabSize: 49408,
      textWidth: 32,
      textLayers: 2,
      textHeads: 4,
    });
  });

  it('reads the same config from the Hugging Face CLIPConfig', () => {
    const hfJson = JSON.parse(readFileSync(goldenPath('clip/hf_config.json'), 'utf8'));
    expect(clipConfigFromJson(hfJson)).toEqual(config);
  });

  it('knows ViT-B/32 and ViT-B/16', () => {
    expect(CLIP_CONFIGS['ViT-B/32']).toMatchObject({ visionPatchSize: 32, visionHeads: 12 });
    expect(CLIP_CONFIGS['ViT-B/16']).toMatchObject({ visionPatchSize: 16, textHeads: 8 });
  });
});

describe.each([
  ['OpenAI', () => openai],
  ['Hugging Face', () => hf],
])('GIVEN the tiny CLIP with %s key names', (naming, model) => {
  it('THEN encode_image matches the official model', () => {
    const out = model().encodeImage(nhwc(g('images')));
    expectClose(out, g('encode_image'), FORWARD, `${naming} encode_image`);
    tf.dispose(out);
  });

  it('THEN encode_text matches for all 28 tokenizer strings', () => {
    const out = model().encodeText(g('tokens') as tf.Tensor2D);
    expectClose(out, g('encode_text'), FORWARD, `${naming} encode_text`);
    tf.dispose(out);
  });

  it('THEN the logits match CLIP.forward', () => {
    const m = model();
    const [perImage, perText] = tf.tidy(() => {
      const img = l2normalize(m.encodeImage(nhwc(g('images'))));
      const txt = l2normalize(m.encodeText(g('forward_tokens') as tf.Tensor2D));
      const logits = tf.mul(tf.matMul(img, txt, false, true), Math.exp(m.logitScale));
      return [logits, tf.transpose(logits)];
    });
    expect(m.logitScale).toBeCloseTo(Math.log(100), 5);
    expectClose(perImage, g('logits_per_image'), FORWARD, `${naming} logits_per_image`);
    expectClose(perText, g('logits_per_text'), FORWARD, `${naming} logits_per_text`);
    tf.dispose([perImage, perText]);
  });
});

describe('intermediates (first two images / strings)', () => {
  const first2 = (t: tf.Tensor) => tf.slice(t, 0, 2);

  it('match the official vision tower step by step', () => {
    const taps: ClipTaps = new Map();
    tf.dispose(openai.encodeImage(nhwc(g('images')), taps));
    const check = (tap: string, ref: tf.Tensor) =>
      expectClose(first2(taps.get(tap)!), ref, FORWARD, tap);
    check('vision.patch_embeds', nhwc(g('dbg.vision.patch_embeds')));
    check('vision.after_ln_pre', g('dbg.vision.after_ln_pre'));
    check('vision.block0', g('dbg.vision.block0'));
    check('vision.block1', g('dbg.vision.block1'));
    check('vision.pooled_after_ln_post', g('dbg.vision.pooled_after_ln_post'));
    tf.dispose([...taps.values()]);
  });

  it('match the official text tower step by step, pooling at the EOT index', () => {
    const taps: ClipTaps = new Map();
    tf.dispose(openai.encodeText(g('tokens') as tf.Tensor2D, taps));
    for (const name of ['embeds', 'block0', 'block1', 'after_ln_final']) {
      expectClose(first2(taps.get(`text.${name}`)!), g(`dbg.text.${name}`), FORWARD, name);
    }
    expect([...first2(taps.get('text.eot_index')!).dataSync()]).toEqual([
      ...g('dbg.text.eot_index').dataSync(),
    ]);
    tf.dispose([...taps.values()]);
  });
});

describe('weight checks', () => {
  function expectMismatch(build: () => unknown, key: string, expected: unknown, found: unknown) {
    try {
      build();
    } catch (err) {
      expect(isNadaError(err, 'weights.mismatch')).toBe(true);
      expect((err as Error).message).toContain(key);
      expect((err as { context: object }).context).toMatchObject({ key, expected, found });
      return;
    }
    throw new Error('expected a weights.mismatch error');
  }

  it('WHEN a projection is stored transposed THEN the error names the key and both shapes', () => {
    const t = openAiTensors();
    const proj = t.get('visual.proj')!;
    t.set('visual.proj', { ...proj, shape: [48, 64] });
    expectMismatch(() => ClipModel.fromTensors(t, config), 'visual.proj', [64, 48], [48, 64]);
  });

  it('WHEN a Hugging Face q projection is missing THEN the error names it', () => {
    const t = hfTensors();
    const key = 'text_model.encoder.layers.1.self_attn.q_proj.weight';
    t.delete(key);
    expectMismatch(() => ClipModel.fromTensors(t, config), key, [32, 32], null);
  });

  it('WHEN the config has fewer layers than the file THEN the extra key is refused', () => {
    const fewer: ClipConfig = { ...config, textLayers: 1 };
    expectMismatch(
      () => ClipModel.fromTensors(openAiTensors(), fewer),
      'transformer.resblocks.1.attn.in_proj_weight',
      null,
      [96, 32],
    );
  });

  it('ignores the position_ids buffers real Hugging Face files carry', () => {
    const t = hfTensors();
    const ids: RawTensor = { dtype: 'I32', shape: [1, 77], data: new Int32Array(77) };
    t.set('text_model.embeddings.position_ids', ids);
    ClipModel.fromTensors(t, config).dispose();
  });
});

describe('random models and memory', () => {
  const tiny = CLIP_CONFIGS.tiny;

  it('GIVEN a seed THEN the random model is reproducible and the seed matters', () => {
    const tokens = tf.tensor2d([[49406, 320, 49407, ...new Array(74).fill(0)]], [1, 77], 'int32');
    const embed = (seed: number) => {
      const m = ClipModel.random(tiny, seed);
      const out = m.encodeText(tokens);
      const data = out.dataSync().slice();
      tf.dispose(out);
      m.dispose();
      return data;
    };
    const [a, b, c] = [embed(1), embed(1), embed(2)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.every(Number.isFinite)).toBe(true);
    tokens.dispose();
  });

  it('WHEN encoding repeatedly THEN no tensor is left behind', () => {
    const images = nhwc(g('images'));
    const tokens = g('forward_tokens') as tf.Tensor2D;
    tf.dispose([openai.encodeImage(images), openai.encodeText(tokens)]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose([openai.encodeImage(images), openai.encodeText(tokens)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, tokens]);
  });

  it('WHEN an image has the wrong size THEN it says to preprocess', () => {
    const wrong = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    expect(() => openai.encodeImage(wrong)).toThrow(/nadaPreprocess\(images, 32\)/);
    wrong.dispose();
  });
});
