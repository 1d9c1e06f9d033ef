import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { ClipModel, ClipTokenizer } from '../src/models/clip/index.ts';
import {
  ClipTextEncoder,
  MclipEncoder,
  UnderstoodAsIndex,
  routePrompt,
  understoodAs,
  writeTinyEncoder,
  type TextEncoder,
} from '../src/text/index.ts';
import { tinyClipConfig } from './helpers/tiny-clip.ts';

const TINY_CLIP = tinyClipConfig(24);
const PHRASES = [
  'bronze statue',
  'sketch',
  'oil painting',
  'Japanese woman',
  'red car',
  'cat',
  'photo',
];
const root = mkdtempSync(join(tmpdir(), 'nadabot-understood-'));
const listPath = join(root, 'list.txt');
let clip: ClipTextEncoder;

/** The real encoder, counting how many texts it is asked to encode. */
function counting(enc: TextEncoder): TextEncoder & { texts: number } {
  const spy = Object.create(enc) as TextEncoder & { texts: number };
  spy.texts = 0;
  spy.encode = async (texts: string[]) => {
    spy.texts += texts.length;
    return enc.encode(texts);
  };
  return spy;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let [dot, na, nb] = [0, 0, 0];
  a.forEach((x, i) => ((dot += x * b[i]), (na += x * x), (nb += b[i] * b[i])));
  return dot / Math.sqrt(na * nb);
}

beforeAll(async () => {
  await selectBackend();
  writeFileSync(listPath, ['# test list', ...PHRASES, ''].join('\n'));
  const model = ClipModel.random(TINY_CLIP, 11);
  clip = new ClipTextEncoder(model, ClipTokenizer.load(), {
    space: 'ViT-B/32',
    weightsHash: 'w1',
    ownsModel: true,
  });
});

afterAll(() => {
  clip.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('GIVEN the English list and a CLIP text encoder', () => {
  it('THEN the nearest entries are ranked by cosine similarity in that space', async () => {
    const cacheDir = join(root, 'cache-rank');
    const index = await UnderstoodAsIndex.open(clip, { listPath, cacheDir });
    const [prompt] = await clip.encode(['a bronze statue']);
    const got = index.nearest(prompt, 3);
    const vectors = await clip.encode(PHRASES);
    const want = PHRASES.map((p, i) => ({ phrase: p, similarity: cosine(prompt, vectors[i]) }))
      .sort((a, b) => b.similarity - a.similarity)
      .slice(0, 3);
    expect(got.map((e) => e.phrase)).toEqual(want.map((e) => e.phrase));
    got.forEach((e, i) => expect(e.similarity).toBeCloseTo(want[i].similarity, 5));
    const [self] = index.nearest(vectors[4], 1);
    expect(self.phrase).toBe('red car');
    expect(self.similarity).toBeCloseTo(1, 5);
  });

  it('THEN only the first use embeds the list; later ones read the cache keyed by the weights hash', async () => {
    const cacheDir = join(root, 'cache-reuse');
    const first = counting(clip);
    const a = await UnderstoodAsIndex.open(first, { listPath, cacheDir });
    expect([a.fromCache, first.texts]).toEqual([false, PHRASES.length]);
    const second = counting(clip);
    const b = await UnderstoodAsIndex.open(second, { listPath, cacheDir });
    expect([b.fromCache, second.texts]).toEqual([true, 0]);
    const [v] = await clip.encode(['cat']);
    expect(b.nearest(v, 7)).toEqual(a.nearest(v, 7));
    expect(readdirSync(cacheDir)).toEqual([
      expect.stringMatching(/^ViT-B-32\.w1\.[0-9a-f]{16}\.safetensors$/),
    ]);

    const other = new ClipTextEncoder(clip.model, clip.tokenizer, {
      space: 'ViT-B/32',
      weightsHash: 'w2',
    });
    const c = await UnderstoodAsIndex.open(other, { listPath, cacheDir });
    expect(c.fromCache).toBe(false);
    expect(readdirSync(cacheDir)).toHaveLength(2);
  });

  it('THEN a damaged cache file is recomputed', async () => {
    const cacheDir = join(root, 'cache-damaged');
    await UnderstoodAsIndex.open(clip, { listPath, cacheDir });
    writeFileSync(join(cacheDir, readdirSync(cacheDir)[0]), 'garbage');
    const again = await UnderstoodAsIndex.open(clip, { listPath, cacheDir });
    expect(again.fromCache).toBe(false);
  });
});

describe('GIVEN a routed Japanese prompt', () => {
  it('THEN understood-as encodes it with the routed encoder and compares it with the English list', async () => {
    writeTinyEncoder(join(root, 'xlmr'), {
      architecture: 'xlm-roberta',
      layout: 'mclip',
      pieces: ['▁', '▁ブロンズ', '像', '▁photo'],
      outDim: 24,
      seed: 9,
    }).dispose();
    const xlmr = await MclipEncoder.load(join(root, 'xlmr'), {
      space: 'ViT-B/32',
      spaceDim: 24,
      id: 'xlmr',
    });
    const models = [
      { space: 'ViT-B/32', dim: 24 },
      { space: 'ViT-B/16', dim: 24 },
    ];
    const record = routePrompt({
      target: 'ブロンズ像',
      source: 'photo',
      models,
      encoders: [clip, xlmr],
    });
    const index = await UnderstoodAsIndex.open(clip, {
      listPath,
      cacheDir: join(root, 'cache-route'),
    });
    const result = await understoodAs(record, [clip, xlmr], [index], 4);
    expect(result).toHaveLength(1); // ViT-B/16 was dropped
    expect(result[0]).toMatchObject({ space: 'ViT-B/32', encoderId: 'xlmr', text: 'ブロンズ像' });
    const [v] = await xlmr.encode(['ブロンズ像']);
    expect(result[0].entries).toEqual(index.nearest(v, 4));
    expect(() => index.nearest(new Float32Array(5))).toThrow(/5-d vector/);
    xlmr.dispose();
  });
});
