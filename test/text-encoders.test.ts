import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { isNadaError } from '../src/errors.ts';
import type { MclipTextModel } from '../src/models/mclip/index.ts';
import { readSafetensors, type RawTensor } from '../src/models/weights/safetensors.ts';
import {
  MclipEncoder,
  OnnxEncoder,
  loadMultilingualEncoders,
  writeTinyEncoder,
} from '../src/text/index.ts';
import { FORWARD, expectClose } from './helpers/golden.ts';

const root = mkdtempSync(join(tmpdir(), 'nadabot-text-'));
const XLMR_PIECES = [
  '▁',
  '▁bronze',
  '▁statue',
  's',
  '▁ブロンズ',
  '像',
  '▁photo',
  '▁リンゴ',
  '林',
  '檎',
  '▁a',
];
const BERT_PIECES = ['bronze', 'statue', '##s', 'ハ', '##ン', '##タ', 'photo', 'a'];
const TEXTS = ['bronze statues', 'ブロンズ像', 'a photo', '林檎'];
const SPACE = { space: 'tiny-24', spaceDim: 24 };
const models: MclipTextModel[] = [];

beforeAll(async () => {
  await selectBackend();
  const xlmr = { architecture: 'xlm-roberta', pieces: XLMR_PIECES, outDim: 24 } as const;
  models.push(
    writeTinyEncoder(join(root, 'xlmr'), { ...xlmr, layout: 'mclip', seed: 1, onnx: 'full' }),
  );
  models.push(
    writeTinyEncoder(join(root, 'xlmr-hidden'), {
      ...xlmr,
      layout: 'mclip',
      seed: 1,
      onnx: 'hidden',
    }),
  );
  const bert = {
    architecture: 'distilbert',
    pieces: BERT_PIECES,
    outDim: 24,
    uncased: true,
  } as const;
  models.push(
    writeTinyEncoder(join(root, 'st'), {
      ...bert,
      layout: 'sentence-transformers',
      seed: 2,
      onnx: 'hidden',
    }),
  );
});

afterAll(() => {
  for (const m of models) m.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** Masked mean and head by hand from the tfjs hidden states: what the encoder must return. */
function byHand(model: MclipTextModel, ids: number[][], mask: number[][]): number[][] {
  const out = model.forward(
    tf.tensor2d(ids, undefined, 'int32'),
    tf.tensor2d(mask, undefined, 'int32'),
  );
  const hidden = out.lastHiddenState.arraySync();
  tf.dispose([out.lastHiddenState, out.pooled, out.embedding]);
  const { weight, bias } = model.head;
  const [outDim, d] = weight.shape;
  return hidden.map((rows, b) => {
    const real = rows.filter((_, t) => mask[b][t] === 1);
    const mean = Array.from(
      { length: d },
      (_, j) => real.reduce((s, r) => s + r[j], 0) / real.length,
    );
    return Array.from({ length: outDim }, (_, o) =>
      mean.reduce((s, x, j) => s + x * weight.data[o * d + j], bias ? bias.data[o] : 0),
    );
  });
}

/**
 * A float state dict as `torch.save` writes it (zip: archive/data.pkl, protocol 2, one storage
 * per tensor), for the folders older releases ship with pytorch_model.bin.
 */
function torchSave(tensors: Map<string, RawTensor>): Uint8Array {
  const pkl: number[] = [];
  const text = (x: string) => [...new TextEncoder().encode(x)];
  const u32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
  const str = (x: string) => pkl.push(0x58, ...u32(text(x).length), ...text(x)); // BINUNICODE
  const int = (n: number) => pkl.push(0x4a, ...u32(n)); // BININT
  const global = (mod: string, name: string) => pkl.push(0x63, ...text(`${mod}\n${name}\n`));
  const files: Record<string, Uint8Array> = {
    'archive/byteorder': Uint8Array.from(text('little')),
  };
  pkl.push(0x80, 2, 0x7d, 0x28); // PROTO 2, EMPTY_DICT, MARK
  [...tensors].forEach(([name, t], i) => {
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    str(name);
    global('torch._utils', '_rebuild_tensor_v2');
    pkl.push(0x28, 0x28); // MARK (args), MARK (persistent id)
    str('storage');
    global('torch', 'FloatStorage');
    [String(i), 'cpu'].forEach(str);
    int(t.data.length);
    pkl.push(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    for (const dims of [t.shape, strides]) {
      pkl.push(0x28); // MARK, then the size or stride tuple
      dims.forEach(int);
      pkl.push(0x74);
    }
    pkl.push(0x89); // requires_grad False
    global('collections', 'OrderedDict');
    pkl.push(0x29, 0x52, 0x74, 0x52); // (), REDUCE; TUPLE, REDUCE
    files[`archive/data/${i}`] = new Uint8Array(Float32Array.from(t.data).buffer);
  });
  pkl.push(0x75, 0x2e); // SETITEMS, STOP
  return zipSync({ 'archive/data.pkl': Uint8Array.from(pkl), ...files }, { level: 0 });
}

describe('GIVEN an M-CLIP folder (config.json, tokenizer.json, model.safetensors)', () => {
  it('THEN the Unigram tokenizer adds <s> … </s> and splits by the vocabulary', async () => {
    const enc = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    expect(enc.tokenizer.tokenize('bronze statues')).toEqual([
      '<s>',
      '▁bronze',
      '▁statue',
      's',
      '</s>',
    ]);
    expect(enc.tokenizer.tokenize('ｂｒｏｎｚｅ')).toEqual(['<s>', '▁bronze', '</s>']); // NFKC in the tokenizer
    const batch = enc.tokenizer.encodeBatch(['bronze statues', 'a'], 10);
    expect(batch.length).toBe(5);
    expect(Array.from(batch.inputIds.slice(5))).toEqual([0, 14, 2, 1, 1]); // '▁a' = 14, padded with <pad> = 1
    expect(Array.from(batch.attentionMask.slice(5))).toEqual([1, 1, 1, 0, 0]);
    expect(enc.stripsMarks).toBe(false);
    enc.dispose();
  });

  it('THEN encode() is masked-mean pooling and the linear head over the hidden states', async () => {
    const enc = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    const before = tf.memory().numTensors;
    const got = await enc.encode(TEXTS);
    expect(tf.memory().numTensors).toBe(before);
    const b = enc.tokenizer.encodeBatch(TEXTS, 64);
    const rows = (a: Int32Array) =>
      TEXTS.map((_, i) => Array.from(a.slice(i * b.length, (i + 1) * b.length)));
    const expected = byHand(enc.model, rows(b.inputIds), rows(b.attentionMask));
    expectClose(
      got.flatMap((v) => Array.from(v)),
      expected.flat(),
      FORWARD,
      'tiny xlmr pooled head',
    );
    expect(got.every((v) => v.length === 24)).toBe(true);
    enc.dispose();
  });

  it('THEN a text alone gets the vector it gets inside a padded batch', async () => {
    const enc = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    const [alone] = await enc.encode(['a photo']);
    const batch = await enc.encode(TEXTS);
    expectClose(alone, batch[2], FORWARD, 'padding invariance');
    enc.dispose();
  });

  it('THEN the same folder with pytorch_model.bin (as older releases ship) gives the same vectors', async () => {
    const dir = join(root, 'xlmr-bin');
    cpSync(join(root, 'xlmr'), dir, { recursive: true });
    const weights = readSafetensors(join(dir, 'model.safetensors')).tensors;
    writeFileSync(join(dir, 'pytorch_model.bin'), torchSave(weights));
    rmSync(join(dir, 'model.safetensors'));
    const fromBin = await MclipEncoder.load(dir, SPACE);
    const fromSafetensors = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    const [a, b] = [await fromBin.encode(TEXTS), await fromSafetensors.encode(TEXTS)];
    expectClose(
      a.flatMap((v) => Array.from(v)),
      b.flatMap((v) => Array.from(v)),
      FORWARD,
      'bin vs safetensors',
    );
    [fromBin, fromSafetensors].forEach((e) => e.dispose());
  });

  it('THEN the ONNX export run by onnxruntime agrees with tfjs, with or without the head in the graph', async () => {
    const tfjs = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    const full = await OnnxEncoder.load(join(root, 'xlmr'), SPACE);
    const hidden = await OnnxEncoder.load(join(root, 'xlmr-hidden'), SPACE);
    expect([full.headIn, hidden.headIn]).toEqual(['graph', 'head']);
    const want = (await tfjs.encode(TEXTS)).flatMap((v) => Array.from(v));
    expectClose(
      (await full.encode(TEXTS)).flatMap((v) => Array.from(v)),
      want,
      FORWARD,
      'onnx full vs tfjs',
    );
    expectClose(
      (await hidden.encode(TEXTS)).flatMap((v) => Array.from(v)),
      want,
      FORWARD,
      'onnx hidden+head vs tfjs',
    );
    expect(full.weightsHash).not.toBe(tfjs.weightsHash);
    [tfjs, full, hidden].forEach((e) => e.dispose());
  });
});

describe('GIVEN a BERT-base folder (the LaBSE family: token types, positions from 0, LN eps 1e-12)', () => {
  it('THEN tfjs and the ONNX export agree on the encoder', async () => {
    const dir = join(root, 'bert');
    const spec = {
      architecture: 'bert',
      layout: 'mclip',
      pieces: BERT_PIECES,
      outDim: 24,
    } as const;
    writeTinyEncoder(dir, { ...spec, seed: 4, onnx: 'full' }).dispose();
    const [tfjs, onnx] = [await MclipEncoder.load(dir, SPACE), await OnnxEncoder.load(dir, SPACE)];
    expect(tfjs.model.config).toMatchObject({
      architecture: 'bert',
      typeVocab: 2,
      layerNormEps: 1e-12,
    });
    const texts = ['bronze statues', 'a photo', 'パンダ'];
    const want = (await tfjs.encode(texts)).flatMap((v) => Array.from(v));
    expectClose(
      (await onnx.encode(texts)).flatMap((v) => Array.from(v)),
      want,
      FORWARD,
      'bert onnx vs tfjs',
    );
    [tfjs, onnx].forEach((e) => e.dispose());
  });
});

describe('GIVEN a sentence-transformers folder (modules.json, 1_Pooling, 2_Dense)', () => {
  it('THEN it loads the DistilBERT, mean pooling and the bias-free Dense head', async () => {
    const enc = await MclipEncoder.load(join(root, 'st'), SPACE);
    expect(enc.model.config).toMatchObject({
      architecture: 'distilbert',
      headBias: false,
      layerNormEps: 1e-12,
    });
    const b = enc.tokenizer.encodeBatch(['Bronze statues', 'a'], 64);
    const rows = (a: Int32Array) =>
      [0, 1].map((i) => Array.from(a.slice(i * b.length, (i + 1) * b.length)));
    const expected = byHand(enc.model, rows(b.inputIds), rows(b.attentionMask));
    const got = await enc.encode(['Bronze statues', 'a']);
    expectClose(
      got.flatMap((v) => Array.from(v)),
      expected.flat(),
      FORWARD,
      'tiny distilbert pooled head',
    );
    enc.dispose();
  });

  it('THEN its uncased WordPiece tokenizer is flagged: パンダ reaches the model as ハンタ', async () => {
    const enc = await MclipEncoder.load(join(root, 'st'), SPACE);
    expect(enc.stripsMarks).toBe(true);
    expect(enc.tokenizer.tokenize('パンダ')).toEqual(['[CLS]', 'ハ', '##ン', '##タ', '[SEP]']);
    enc.dispose();
  });

  it('THEN its hidden-state ONNX export is pooled and projected with the Dense weights', async () => {
    const tfjs = await MclipEncoder.load(join(root, 'st'), SPACE);
    const onnx = await OnnxEncoder.load(join(root, 'st'), SPACE);
    const want = (await tfjs.encode(TEXTS)).flatMap((v) => Array.from(v));
    expectClose(
      (await onnx.encode(TEXTS)).flatMap((v) => Array.from(v)),
      want,
      FORWARD,
      'st onnx vs tfjs',
    );
    [tfjs, onnx].forEach((e) => e.dispose());
  });
});

describe("GIVEN the operator's list of multilingual encoders", () => {
  it('THEN each is loaded from the models directory with its runtime, in order', async () => {
    const encs = await loadMultilingualEncoders(
      [
        { id: 'b32-onnx', dir: 'xlmr', space: 'tiny-24', spaceDim: 24, runtime: 'onnx' },
        {
          id: 'b32-st',
          dir: join(root, 'st'),
          space: 'tiny-24',
          spaceDim: 24,
          languages: ['de', 'ja'],
        },
      ],
      root,
    );
    expect(encs.map((e) => [e.id, e.constructor.name, e.languages])).toEqual([
      ['b32-onnx', 'OnnxEncoder', 'any'],
      ['b32-st', 'MclipEncoder', ['de', 'ja']],
    ]);
    encs.forEach((e) => e.dispose());
  });

  it('THEN a bad entry is refused, naming the field', async () => {
    const bad = loadMultilingualEncoders(
      [{ id: 'x', dir: 'xlmr', space: '', runtime: 'gpu' } as never],
      root,
    );
    await expect(bad).rejects.toMatchObject({ code: 'encoder.spec_invalid' });
    await expect(bad).rejects.toThrow(/space/);
  });
});

describe('WHEN a folder does not fit', () => {
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return isNadaError(err) ? err.code : `not a NadaError: ${String(err)}`;
    }
    return 'no error';
  };

  it('THEN an encoder claiming ViT-B/32 with 24-d outputs is refused (512 expected)', async () => {
    expect(await code(MclipEncoder.load(join(root, 'xlmr'), { space: 'ViT-B/32' }))).toBe(
      'encoder.dim_mismatch',
    );
    expect(await code(OnnxEncoder.load(join(root, 'xlmr'), { space: 'ViT-B/32' }))).toBe(
      'encoder.dim_mismatch',
    );
  });

  it('THEN a missing folder, weights or tokenizer, or a damaged file, say what to do', async () => {
    expect(await code(MclipEncoder.load(join(root, 'nope'), SPACE))).toBe('encoder.missing');
    const dir = join(root, 'broken');
    writeTinyEncoder(dir, {
      architecture: 'bert',
      layout: 'mclip',
      pieces: BERT_PIECES,
      outDim: 24,
      seed: 3,
    }).dispose();
    renameSync(join(dir, 'model.safetensors'), join(dir, 'pytorch_model.bin'));
    expect(await code(MclipEncoder.load(dir, SPACE))).toMatch(/^weights\./); // not a pickle
    rmSync(join(dir, 'pytorch_model.bin'));
    expect(await code(MclipEncoder.load(dir, SPACE))).toBe('encoder.weights_missing');
    writeTinyEncoder(dir, {
      architecture: 'bert',
      layout: 'mclip',
      pieces: BERT_PIECES,
      outDim: 24,
      seed: 3,
    }).dispose();
    rmSync(join(dir, 'tokenizer.json'));
    expect(await code(MclipEncoder.load(dir, SPACE))).toBe('encoder.tokenizer_missing');
    writeFileSync(join(dir, 'config.json'), '{ not json');
    expect(await code(MclipEncoder.load(dir, SPACE))).toBe('encoder.config_invalid');
  });

  it('THEN a text longer than the learned positions is text.too_long with the numbers', async () => {
    const enc = await MclipEncoder.load(join(root, 'xlmr'), SPACE);
    const err = await enc.encode([Array(80).fill('bronze').join(' ')]).catch((e) => e);
    expect(err.code).toBe('text.too_long');
    expect(err.context).toEqual({ tokens: 82, limit: 64 });
    enc.dispose();
  });
});
