import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { MclipTextModel } from '../src/models/mclip/index.ts';
import { FORWARD, expectClose, golden, goldenPath, goldenTensors } from './helpers/golden.ts';

const GOLDEN = 'mclip/golden.safetensors';
const info = JSON.parse(readFileSync(goldenPath('mclip/info.json'), 'utf8'));

beforeAll(async () => {
  await selectBackend();
});

describe.each([
  ['xlmr', 'mclip/tiny-mclip-xlmr.safetensors'],
  ['distilbert', 'mclip/tiny-mclip-distilbert.safetensors'],
])('the %s M-CLIP encoder against the official MultilingualCLIP', (name, weights) => {
  const load = () => MclipTextModel.fromTensors(goldenTensors(weights), info[name].base_config);
  const ids = () => golden(GOLDEN, `${name}.input_ids`) as tf.Tensor2D;
  const mask = () => golden(GOLDEN, `${name}.attention_mask`) as tf.Tensor2D;

  it('reads the config from config.json and the weight shapes', () => {
    const model = load();
    expect(model.config).toMatchObject({ hidden: 32, layers: 2, heads: 4, ffn: 64, outDim: 48 });
    expect(model.config.layerNormEps).toBe(name === 'xlmr' ? 1e-5 : 1e-12);
    model.dispose();
  });

  it('matches last hidden state, masked-mean pooling and the linear head', () => {
    const model = load();
    const before = tf.memory().numTensors;
    const out = model.forward(ids(), mask());
    for (const [key, actual] of [
      ['last_hidden_state', out.lastHiddenState],
      ['pooled', out.pooled],
      ['embedding', out.embedding],
    ] as const) {
      const expected = golden(GOLDEN, `${name}.${key}`);
      expectClose(actual, expected, FORWARD, `${name} ${key}`);
      expected.dispose();
    }
    tf.dispose([out.lastHiddenState, out.pooled, out.embedding]);
    // ids and mask (2 tensors) stay alive; nothing else may.
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2);
    model.dispose();
  });

  it('gives a sentence the same embedding alone as inside a padded batch', () => {
    const model = load();
    const all = model.encode(ids(), mask());
    const len = (tf.sum(mask(), 1).arraySync() as number[])[2];
    const alone = model.encode(
      tf.slice(ids(), [2, 0], [1, len]),
      tf.slice(mask(), [2, 0], [1, len]),
    );
    expectClose(alone, tf.slice(all, [2, 0], [1, 48]), FORWARD, `${name} padding invariance`);
    model.dispose();
  });
});

describe('XLM-R position ids', () => {
  it('start after the padding id and leave pads at the padding id', () => {
    const model = MclipTextModel.fromTensors(
      goldenTensors('mclip/tiny-mclip-xlmr.safetensors'),
      info.xlmr.base_config,
    );
    const pos = model.positionIds(golden(GOLDEN, 'xlmr.input_ids') as tf.Tensor2D);
    expect(pos.arraySync()).toEqual(golden(GOLDEN, 'xlmr.position_ids').arraySync());
    model.dispose();
  });
});

describe('the ONNX export of the golden encoders, run by onnxruntime', () => {
  it.each(['xlmr', 'distilbert'])(
    '%s: matches the official hidden states, pooling and embedding',
    async (name) => {
      const ort = await import('onnxruntime-node');
      const { exportMclipOnnx } = await import('../src/models/mclip/index.ts');
      const file = `mclip/tiny-mclip-${name}.safetensors`;
      const model = MclipTextModel.fromTensors(goldenTensors(file), info[name].base_config);
      const session = await ort.InferenceSession.create(exportMclipOnnx(model));
      const feed = (key: string) => {
        const raw = goldenTensors(GOLDEN).get(`${name}.${key}`)!;
        return new ort.Tensor(
          'int64',
          BigInt64Array.from(raw.data, (v) => BigInt(v)),
          raw.shape,
        );
      };
      const out = await session.run({
        input_ids: feed('input_ids'),
        attention_mask: feed('attention_mask'),
      });
      for (const [output, key] of [
        ['last_hidden_state', 'last_hidden_state'],
        ['mean_pooled', 'pooled'],
        ['text_embeds', 'embedding'],
      ]) {
        const expected = goldenTensors(GOLDEN).get(`${name}.${key}`)!;
        expect(out[output].dims).toEqual(expected.shape);
        expectClose(
          out[output].data as Float32Array,
          expected.data,
          FORWARD,
          `${name} onnx ${key}`,
        );
      }
      await session.release();
      model.dispose();
    },
  );
});
