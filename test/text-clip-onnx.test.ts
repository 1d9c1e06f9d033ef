import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { ClipModel, ClipTokenizer, clipConfigFromJson } from '../src/models/clip/index.ts';
import { ClipOnnxTextEncoder, ClipTextEncoder } from '../src/text/index.ts';
import { FORWARD, expectClose, goldenPath, goldenTensors } from './helpers/golden.ts';

const config = clipConfigFromJson(JSON.parse(readFileSync(goldenPath('clip/config.json'), 'utf8')));
const GOLDEN = 'clip/golden.safetensors';

beforeAll(async () => {
  await selectBackend();
});

describe.each(['openai', 'hf'])(
  "CLIP's text encoder exported to ONNX (%s weight names)",
  (naming) => {
    const weights = () => goldenTensors(`clip/tiny-clip-${naming}.safetensors`);
    const load = () =>
      ClipOnnxTextEncoder.fromTensors(weights(), config, {
        space: 'ViT-B/32',
        weightsHash: naming,
      });

    it('matches the official encode_text on the 28 golden token rows', async () => {
      const enc = await load();
      const tokens = goldenTensors(GOLDEN).get('tokens')!;
      const got = await enc.encodeTokens(tokens.data as Int32Array, 28, 77);
      const expected = goldenTensors(GOLDEN).get('encode_text')!;
      expectClose(
        got.flatMap((v) => Array.from(v)),
        expected.data,
        FORWARD,
        `${naming} onnx encode_text`,
      );
      enc.dispose();
    });

    it('gives what the tfjs ClipTextEncoder gives for the same texts', async () => {
      const enc = await load();
      const model = ClipModel.fromTensors(weights(), config);
      const tfjs = new ClipTextEncoder(model, ClipTokenizer.load(), {
        space: 'ViT-B/32',
        weightsHash: naming,
      });
      const texts = ['bronze statue', 'a photo of a smiling woman with red hair', '🗿', 'sketch'];
      const [a, b] = [await enc.encode(texts), await tfjs.encode(texts)];
      expectClose(
        a.flatMap((v) => Array.from(v)),
        b.flatMap((v) => Array.from(v)),
        FORWARD,
        `${naming} onnx vs tfjs`,
      );
      expect(await enc.encode([])).toEqual([]);
      const long = await enc.encode([Array(80).fill('statue').join(' ')]).catch((e) => e);
      expect(long).toMatchObject({ code: 'text.too_long', context: { tokens: 82, limit: 77 } });
      model.dispose();
      enc.dispose();
    });
  },
);
