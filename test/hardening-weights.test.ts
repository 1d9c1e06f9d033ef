import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError, type NadaError } from '../src/errors.ts';
import { parseSafetensors } from '../src/models/weights/safetensors.ts';
import { parseTorchCheckpoint } from '../src/models/weights/torch-checkpoint.ts';

// Hostile and damaged weights files, each small on disk. Before these were pinned, each made
// nadabot eat memory (overlapping safetensors ranges, a stride-0 view, an inflating zip
// entry), hang (a megabyte-long pickle integer) or die with a bare RangeError (deep nesting,
// a negative size). Each must now end in a coded NadaError that names the file.

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'nadabot-hardening-weights-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The NadaError `fn` throws; any other outcome fails the test. */
function caught(fn: () => unknown): NadaError {
  try {
    fn();
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('expected a NadaError, the file was accepted');
}

/** A safetensors file from a header object and a data section. */
function safetensors(header: object, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
const binUnicode = (s: string) => [0x58, ...u32(Buffer.byteLength(s)), ...Buffer.from(s)];
const binInt = (n: number) => [0x4a, ...u32(n)];

/** `{ 'w': _rebuild_tensor_v2(FloatStorage 0 of `numel`, 0, size, stride, False, OrderedDict()) }`. */
function tensorPickle(numel: number, size: number[], stride: number[]): Uint8Array {
  const ints = (xs: number[]) => [0x28, ...xs.flatMap(binInt), 0x74];
  return Uint8Array.from([
    ...[0x80, 0x02, 0x7d, ...binUnicode('w')],
    ...[0x63, ...ascii('torch._utils\n_rebuild_tensor_v2\n'), 0x28],
    ...[0x28, ...binUnicode('storage'), 0x63, ...ascii('torch\nFloatStorage\n')],
    ...[...binUnicode('0'), ...binUnicode('cpu'), ...binInt(numel), 0x74, 0x51],
    ...[0x4b, 0, ...ints(size), ...ints(stride), 0x89],
    ...[0x63, ...ascii('collections\nOrderedDict\n'), 0x29, 0x52, 0x74, 0x52, 0x73, 0x2e],
  ]);
}

function torchZip(pickle: Uint8Array, storage: Uint8Array, level: 0 | 9 = 0): Uint8Array {
  return zipSync({ 'x/data.pkl': pickle, 'x/data/0': storage }, { level });
}

const fourFloats = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);

describe('GIVEN a hostile safetensors file', () => {
  it('WHEN 64 tensors claim the same 1 MB THEN it is refused as overlapping before any copy', () => {
    const bytes = 1 << 20;
    const header: Record<string, object> = {};
    for (let i = 0; i < 64; i++) {
      header[`t${i}`] = { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] };
    }
    const err = caught(() => parseSafetensors(safetensors(header, new Uint8Array(bytes)), 'x'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toMatch(/^x: tensors "t0" and "t1" share bytes/);
  });

  it('WHEN two tensors overlap by one element THEN it is refused', () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    const err = caught(() => parseSafetensors(safetensors(header, new Uint8Array(12)), 'x'));
    expect(err.message).toContain('"a" and "b" share bytes (0–8 and 4–12)');
  });

  it('WHEN tensors sit side by side (and one is empty) THEN all are read', () => {
    const header = {
      b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      e: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
    };
    const data = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);
    const { tensors } = parseSafetensors(safetensors(header, data), 'x');
    expect([...tensors.get('b')!.data]).toEqual([3, 4]);
    expect(tensors.get('e')!.shape).toEqual([0]);
  });

  it('WHEN __metadata__ holds an object instead of strings THEN it is refused', () => {
    const header = { __metadata__: { format: { nested: 1 } } };
    const err = caught(() => parseSafetensors(safetensors(header, new Uint8Array()), 'x'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toContain('__metadata__ must map names to strings');
  });
});

describe('GIVEN a hostile .pt checkpoint', () => {
  it('WHEN a 4-element storage is viewed as 1,000,000 elements (stride 0) THEN it is refused', () => {
    const file = torchZip(tensorPickle(4, [1_000_000], [0]), fourFloats);
    const err = caught(() => parseTorchCheckpoint(file, 'x.pt'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toBe(
      'x.pt: a tensor of shape [1000000] needs 1000000 elements, its storage 0 holds 4: ' +
        'the file is damaged or hostile',
    );
  });

  it('WHEN a tensor has a negative size THEN a coded error replaces the RangeError', () => {
    const file = torchZip(tensorPickle(4, [-5], [1]), fourFloats);
    expect(caught(() => parseTorchCheckpoint(file, 'x.pt')).code).toBe('weights.corrupt');
  });

  it('WHEN a storage entry inflates far beyond its element count THEN it is not unpacked', () => {
    const bomb = torchZip(tensorPickle(4, [4], [1]), new Uint8Array(16 << 20), 9);
    expect(bomb.byteLength).toBeLessThan(1 << 20);
    const err = caught(() => parseTorchCheckpoint(bomb, 'x.pt'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toContain('entry x/data/0 inflates to 16777216 bytes, at most 16 expected');
  });

  it('WHEN the storage entry is the right size THEN the tensor still reads', () => {
    const file = torchZip(tensorPickle(4, [2, 2], [2, 1]), fourFloats, 9);
    const tree = parseTorchCheckpoint(file, 'x.pt') as { w: { data: Float32Array } };
    expect([...tree.w.data]).toEqual([1, 2, 3, 4]);
  });

  it('WHEN lists nest 200,000 deep THEN it is refused instead of overflowing the stack', () => {
    const depth = 200_000;
    const pickle = new Uint8Array(2 + 2 * depth);
    pickle.set([0x80, 0x02]);
    pickle.fill(0x5d, 2, 2 + depth); // EMPTY_LIST × depth
    pickle.fill(0x61, 2 + depth, 1 + 2 * depth); // APPEND × (depth − 1)
    pickle[1 + 2 * depth] = 0x2e; // STOP
    const err = caught(() => parseTorchCheckpoint(torchZip(pickle, fourFloats), 'x.pt'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toContain('nests containers more than 100 levels deep');
  });

  it('WHEN a pickle integer claims a megabyte (LONG4) THEN it is refused, not built', () => {
    const n = 1 << 20;
    const pickle = new Uint8Array(8 + n);
    pickle.set([0x80, 0x02, 0x8b, ...u32(n)]);
    pickle.fill(1, 7, 7 + n);
    pickle[7 + n] = 0x2e;
    const err = caught(() => parseTorchCheckpoint(torchZip(pickle, fourFloats), 'x.pt'));
    expect(err.code).toBe('weights.corrupt');
    expect(err.message).toContain('an integer of 1048576 bytes');
  });
});

describe('GIVEN `nadabot models import` with a hostile generator', () => {
  it('WHEN its tensor is a stride-0 view of 1e8 elements THEN one error line, exit 1, nothing installed', async () => {
    const generator = join(scratch, 'stride0.pt');
    writeFileSync(generator, torchZip(tensorPickle(4, [100_000_000], [0]), fourFloats));
    const clip = join(scratch, 'clip.safetensors');
    writeFileSync(clip, safetensors({}, new Uint8Array()));
    const store = join(scratch, 'store');

    const exit = await cli(
      ['import', 'hx', '--source', 'photo', '--generator', generator, '--clip', clip],
      store,
    );
    expect(exit.code).toBe(1);
    const lines = exit.stderr.trim().split('\n');
    expect(lines[0]).toBe(`converting the generator ${generator}`);
    expect(lines.slice(1)).toEqual([
      `nadabot: ${generator}: a tensor of shape [100000000] needs 100000000 elements, ` +
        'its storage 0 holds 4: the file is damaged or hostile',
    ]);
    expect(existsSync(join(store, 'hx'))).toBe(false);
  });
});

function cli(args: string[], store: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['bin/nadabot.js', 'models', ...args], {
      env: { ...process.env, NADABOT_MODELS_DIR: store },
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code, stderr }));
  });
}
