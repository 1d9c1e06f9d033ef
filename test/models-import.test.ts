import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError, type NadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { ClipModel } from '../src/models/clip/index.ts';
import { importModel, type ImportOptions } from '../src/models/pull.ts';
import { resolveModel } from '../src/models/store.ts';
import { verifyModel } from '../src/models/verify.ts';
import { readSafetensors, type RawTensor } from '../src/models/weights/safetensors.ts';
import { expectClose, golden, goldenPath, nhwc } from './helpers/golden.ts';

let root: string;
beforeAll(async () => {
  await selectBackend();
  root = mkdtempSync(join(tmpdir(), 'models-import-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tinyImport = (extra: Partial<ImportOptions> = {}): ImportOptions => ({
  generator: goldenPath('stylegan2/tiny-ffhq.pt'),
  clip: [goldenPath('clip/tiny-clip-hf.safetensors')],
  clipConfig: [goldenPath('clip/hf_config.json')],
  source: 'photo',
  modelsDir: mkdtempSync(join(root, 'store-')),
  ...extra,
});

async function importError(id: string, opts: ImportOptions): Promise<NadaError> {
  try {
    await importModel(id, opts);
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('import succeeded');
}

describe('nadabot models import', () => {
  it.each([
    ['zip .pt', 'stylegan2/tiny-ffhq.pt'],
    ['legacy .pt', 'stylegan2/tiny-ffhq.legacy.pt'],
    ['training .pt (g, d, optimisers, args)', 'stylegan2/tiny-ffhq.train-format.pt'],
    ['.safetensors', 'stylegan2/tiny-ffhq.safetensors'],
  ])('GIVEN a %s generator THEN the installed weights are the golden g_ema', async (_, file) => {
    const opts = tinyImport({ generator: goldenPath(file) });
    const files = await importModel('mine', opts);
    const installed = readSafetensors(files.generatorPath).tensors;
    const expected = readSafetensors(goldenPath('stylegan2/tiny-ffhq.safetensors')).tensors;
    // latent_avg rides along where the file has one (the training layout has none)
    const stateDict = (m: Map<string, RawTensor>) =>
      [...m.keys()].filter((k) => k !== 'latent_avg');
    expect(stateDict(installed).sort()).toEqual(stateDict(expected).sort());
    for (const key of stateDict(expected)) {
      expect(installed.get(key)?.data, key).toEqual(expected.get(key)!.data);
    }
    expect(resolveModel('mine', opts.modelsDir).info.source).toBe('photo');
  });

  it('GIVEN OpenAI-named CLIP weights and an OpenAI config THEN they install too', async () => {
    const opts = tinyImport({
      clip: [goldenPath('clip/tiny-clip-openai.safetensors')],
      clipConfig: [goldenPath('clip/config.json')],
    });
    const files = await importModel('mine', opts);
    expect(files.info.clip[0].format).toBe('OpenAI CLIP state dict as safetensors');
    expect(files.info.clip[0].config.textHeads).toBe(4);
  });

  it('GIVEN a config that does not fit the weights THEN weights.mismatch and nothing installed', async () => {
    const opts = tinyImport({ clipConfig: undefined, clipName: ['ViT-B/32'] });
    const err = await importError('mine', opts);
    expect(err.code).toBe('weights.mismatch');
    expect(readdirSync(opts.modelsDir!)).toEqual([]);
  });

  it('GIVEN an id the catalog does not know and no --source THEN it asks for one', async () => {
    const err = await importError('mine', tinyImport({ source: undefined }));
    expect(err.code).toBe('model.bad_option');
    expect(err.message).toContain('--source');
  });

  it.each(['../victim', '..', '.hidden', 'a/b'])(
    'GIVEN the id %j THEN it is refused before anything is written, and nothing outside the store changes',
    async (id) => {
      const opts = tinyImport();
      const victim = join(opts.modelsDir!, '..', 'victim');
      rmSync(victim, { recursive: true, force: true });
      mkdirSync(victim);
      writeFileSync(join(victim, 'important.txt'), 'precious');

      const err = await importError(id, opts);
      expect(err.code).toBe('model.bad_id');
      expect(readFileSync(join(victim, 'important.txt'), 'utf8')).toBe('precious');
      expect(readdirSync(victim)).toEqual(['important.txt']);
      expect(readdirSync(opts.modelsDir!)).toEqual([]);
    },
  );

  it('GIVEN an installed model WHEN a file changes THEN verify fails with model.checksum', async () => {
    const opts = tinyImport();
    const files = await importModel('mine', opts);
    await verifyModel('mine', opts.modelsDir);
    expect(resolveModel('mine', opts.modelsDir).info.verifiedAt).toMatch(/^20\d\d-/);

    appendFileSync(files.clip[0].path, Buffer.from([0]));
    await expect(verifyModel('mine', opts.modelsDir)).rejects.toThrow(/sha256 is [0-9a-f]{64}/);
    expect(existsSync(files.generatorPath)).toBe(true);
  });
});

// ---- half precision: real Hugging Face files may be F16 or BF16 ------------------------------

/** float32 → IEEE half, round to nearest even (normal and subnormal range; tests only). */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) {
    // subnormal half: value / 2^-24, rounded
    const v = Math.round(Math.abs(x) / 2 ** -24);
    return sign | v;
  }
  let h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1;
  return h;
}

function halfBytes(data: Float32Array, dtype: 'F16' | 'BF16'): Uint8Array {
  const out = new Uint16Array(data.length);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) {
    out[i] = dtype === 'F16' ? toHalf(data[i]) : bits[i] >>> 16; // BF16: truncated
  }
  return new Uint8Array(out.buffer);
}

/** Writes every float tensor of `tensors` as `dtype` (the header is patched, the data halved). */
function writeHalfFile(path: string, tensors: Map<string, RawTensor>, dtype: 'F16' | 'BF16') {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes =
      t.dtype === 'F32' ? halfBytes(t.data as Float32Array, dtype) : new Uint8Array(t.data.buffer);
    header[name] = {
      dtype: t.dtype === 'F32' ? dtype : t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + bytes.byteLength],
    };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.byteLength));
  writeFileSync(path, Buffer.concat([len, json, ...chunks]));
}

describe('safetensors half precision', () => {
  it('GIVEN F16 and BF16 values THEN they read back widened to float32 exactly', () => {
    // values exactly representable in both formats, and F16 edge cases
    const f16 = [0, -0, 1, -2.5, 65504, 2 ** -14, 2 ** -24, 3 * 2 ** -24, 0.1];
    const path = join(root, 'half.safetensors');
    writeHalfFile(
      path,
      new Map([['x', { dtype: 'F32', shape: [9], data: new Float32Array(f16) }]]),
      'F16',
    );
    const x = readSafetensors(path).tensors.get('x')!;
    expect(x.dtype).toBe('F32');
    // 0.1 is not a half: it reads back as the nearest half, 0.0999755859375
    expect([...x.data]).toEqual([
      0,
      -0,
      1,
      -2.5,
      65504,
      2 ** -14,
      2 ** -24,
      3 * 2 ** -24,
      0.0999755859375,
    ]);

    writeHalfFile(
      path,
      new Map([
        ['y', { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -3, 2 ** 100, 0.5]) }],
      ]),
      'BF16',
    );
    const y = readSafetensors(path).tensors.get('y')!;
    expect(y.shape).toEqual([2, 2]);
    expect([...y.data]).toEqual([1, -3, 2 ** 100, 0.5]);
  });

  it('GIVEN I64 position ids THEN they read as int32', () => {
    const ids = new BigInt64Array([0n, 1n, 76n]);
    const path = join(root, 'i64.safetensors');
    const json = JSON.stringify({ ids: { dtype: 'I64', shape: [3], data_offsets: [0, 24] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(path, Buffer.concat([len, Buffer.from(json), Buffer.from(ids.buffer)]));
    const t = readSafetensors(path).tensors.get('ids')!;
    expect(t.dtype).toBe('I32');
    expect([...t.data]).toEqual([0, 1, 76]);
  });

  it('GIVEN the tiny HF CLIP saved as F16 THEN it imports and embeds close to the float32 golden', async () => {
    const src = readSafetensors(goldenPath('clip/tiny-clip-hf.safetensors')).tensors;
    const path = join(root, 'clip-f16.safetensors');
    writeHalfFile(path, src, 'F16');
    const files = await importModel('half', tinyImport({ clip: [path] }));

    const clip = await ClipModel.load(files.clip[0].path, files.clip[0].config);
    const images = nhwc(golden('clip/golden.safetensors', 'images'));
    // half precision keeps 11 significant bits: 1% of the largest value, the gradient tolerance
    expectClose(
      clip.encodeImage(images),
      golden('clip/golden.safetensors', 'encode_image'),
      { atol: 0, rtol: 1e-2 },
      'F16 CLIP encode_image',
    );
    clip.dispose();
    images.dispose();
  });
});
