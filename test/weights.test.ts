import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError, type NadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { StyleGan2Generator } from '../src/models/stylegan2/index.ts';
import {
  parseSafetensors,
  readSafetensors,
  type RawTensor,
} from '../src/models/weights/safetensors.ts';
import { allowedGlobals } from '../src/models/weights/pickle-globals.ts';
import {
  extractStateDict,
  loadTorchCheckpoint,
  parseTorchCheckpoint,
} from '../src/models/weights/torch-checkpoint.ts';
import { expectClose, FORWARD, golden, goldenPath, nhwc } from './helpers/golden.ts';

const SG2 = (f: string) => goldenPath(`stylegan2/${f}`);
const reference = () => readSafetensors(SG2('tiny-ffhq.safetensors')).tensors;

let scratch: string;
beforeAll(async () => {
  await selectBackend();
  scratch = mkdtempSync(join(tmpdir(), 'nadabot-weights-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `fn` and returns the NadaError it throws (fails the test if it throws nothing else). */
async function caught(fn: () => unknown): Promise<NadaError> {
  try {
    await fn();
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('expected a NadaError, nothing was thrown');
}

function expectSameTensors(actual: Map<string, RawTensor>, expected: Map<string, RawTensor>) {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  for (const [k, t] of expected) {
    const a = actual.get(k)!;
    expect(a.shape, k).toEqual(t.shape);
    expect(
      Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      ),
      `${k}: bytes`,
    ).toBe(true);
  }
}

/** The parts of a training checkpoint this test looks at. */
interface TrainFormat {
  args: Record<string, unknown>;
  g_optim: {
    param_groups: { lr: number; betas: number[] }[];
    state: Record<string, { exp_avg: RawTensor }>;
  };
}

describe('reading rosinality checkpoints', () => {
  const gEma = () => {
    const ref = reference();
    ref.delete('latent_avg');
    return ref;
  };

  for (const file of ['tiny-ffhq.pt', 'tiny-ffhq.legacy.pt']) {
    it(`${file}: g_ema and latent_avg equal the safetensors copy bit for bit`, async () => {
      const ckpt = (await loadTorchCheckpoint(SG2(file))) as Record<string, unknown>;
      expect(Object.keys(ckpt)).toEqual(['g_ema', 'latent_avg']);
      expectSameTensors(extractStateDict(ckpt, 'g_ema'), gEma());
      const avg = ckpt.latent_avg as RawTensor;
      expect(Array.from(avg.data)).toEqual(Array.from(reference().get('latent_avg')!.data));
    });
  }

  it('tiny-ffhq.train-format.pt: g_ema is read past the Namespace and the Adam state', async () => {
    const ckpt = (await loadTorchCheckpoint(SG2('tiny-ffhq.train-format.pt'))) as TrainFormat;
    expect(Object.keys(ckpt)).toEqual(['g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args']);
    expectSameTensors(extractStateDict(ckpt, 'g_ema'), gEma());
    expectSameTensors(extractStateDict(ckpt, 'g'), gEma());
    // argparse.Namespace became an inert record of its attributes
    expect({ ...ckpt.args }).toEqual({
      size: 64,
      batch: 2,
      iter: 3,
      lr: 0.002,
      channel_multiplier: 2,
      ckpt: null,
    });
    const group = ckpt.g_optim.param_groups[0];
    expect(group.lr).toBeCloseTo(0.0016, 12);
    expect(group.betas[1]).toBeCloseTo(0.99 ** 0.8, 12);
    expect(ckpt.g_optim.state['0'].exp_avg.shape).toEqual([64, 64]);
  });

  it('StyleGan2Generator.load(.pt) renders the golden image', async () => {
    const G = await StyleGan2Generator.load(SG2('tiny-ffhq.pt'));
    const { image } = G.forward([golden('stylegan2/golden.safetensors', 'z') as tf.Tensor2D], {
      noise: 'const',
    });
    const expected = nhwc(golden('stylegan2/golden.safetensors', 'img_noise_const'));
    expectClose(image, expected, FORWARD, 'img_noise_const from tiny-ffhq.pt');
    G.dispose();
  });

  it('StyleGan2Generator.load reads the legacy and train formats to the same state dict', async () => {
    for (const file of ['tiny-ffhq.legacy.pt', 'tiny-ffhq.train-format.pt']) {
      const G = await StyleGan2Generator.load(SG2(file));
      expectSameTensors(G.stateDict(), gEma());
      G.dispose();
    }
  });
});

// ---- hostile pickles -------------------------------------------------------------------------

const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
const binUnicode = (s: string) => [0x58, ...u32(Buffer.byteLength(s)), ...Buffer.from(s)];
const shortUnicode = (s: string) => [0x8c, Buffer.byteLength(s), ...Buffer.from(s)];

/** `{ 'g_ema': module.name(arg) }` at protocol 2, with the GLOBAL opcode. */
function globalCallPickle(module: string, name: string, arg: string): Uint8Array {
  return Uint8Array.from([
    0x80,
    0x02,
    0x7d,
    ...binUnicode('g_ema'),
    0x63,
    ...ascii(`${module}\n${name}\n`),
    ...binUnicode(arg),
    0x85,
    0x52,
    0x73,
    0x2e,
  ]);
}

/** module.name(arg) at protocol 4, with STACK_GLOBAL. */
function stackGlobalCallPickle(module: string, name: string, arg: string): Uint8Array {
  return Uint8Array.from([
    0x80,
    0x04,
    ...shortUnicode(module),
    ...shortUnicode(name),
    0x93,
    ...binUnicode(arg),
    0x85,
    0x52,
    0x2e,
  ]);
}

function torchZip(pickle: Uint8Array): Uint8Array {
  return zipSync({ 'evil/data.pkl': pickle, 'evil/version': Buffer.from('3\n') }, { level: 0 });
}

/** The legacy header pickles (magic, protocol 1001, sys info) followed by `pickle`. */
function torchLegacy(pickle: Uint8Array): Uint8Array {
  const magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return Uint8Array.from([
    0x80,
    0x02,
    0x8a,
    0x0a,
    ...magic,
    0x2e,
    0x80,
    0x02,
    0x4d,
    0xe9,
    0x03,
    0x2e,
    0x80,
    0x02,
    0x7d,
    0x28,
    ...binUnicode('little_endian'),
    0x88,
    0x75,
    0x2e,
    ...pickle,
  ]);
}

describe('hostile checkpoints', () => {
  it('the allow-list holds only tensor-rebuild helpers, storage types and two inert records', () => {
    const storages = allowedGlobals().filter((g) => /^torch\.[A-Za-z0-9]+Storage$/.test(g));
    expect(storages).toContain('torch.FloatStorage');
    expect(
      allowedGlobals()
        .filter((g) => !storages.includes(g))
        .sort(),
    ).toEqual([
      'argparse.Namespace',
      'collections.OrderedDict',
      'torch._utils._rebuild_parameter',
      'torch._utils._rebuild_tensor',
      'torch._utils._rebuild_tensor_v2',
    ]);
  });

  const cases = [
    {
      label: 'zip .pt calling os.system',
      global: 'os.system',
      make: (cmd: string) => torchZip(globalCallPickle('os', 'system', cmd)),
    },
    {
      label: 'zip .pt calling builtins.eval via STACK_GLOBAL',
      global: 'builtins.eval',
      make: (cmd: string) =>
        torchZip(
          stackGlobalCallPickle(
            'builtins',
            'eval',
            `__import__('os').system(${JSON.stringify(cmd)})`,
          ),
        ),
    },
    {
      label: 'legacy .pt calling posix.system',
      global: 'posix.system',
      make: (cmd: string) => torchLegacy(globalCallPickle('posix', 'system', cmd)),
    },
  ];

  for (const c of cases) {
    it(`refuses a ${c.label}, naming the global, and runs nothing`, async () => {
      const marker = join(scratch, `ran-${c.global}`);
      const file = join(scratch, `${c.global}.pt`);
      writeFileSync(file, c.make(`touch ${marker}`));

      const err = await caught(() => loadTorchCheckpoint(file));
      expect(err.code).toBe('weights.unsafe_pickle');
      expect(err.message).toContain(c.global);
      expect(err.context.global).toBe(c.global);
      expect(existsSync(marker)).toBe(false);

      const err2 = await caught(() => StyleGan2Generator.load(file));
      expect(err2.code).toBe('weights.unsafe_pickle');
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('refuses calling an allowed storage type as a function', async () => {
    const pickle = Uint8Array.from([
      0x80,
      0x02,
      0x63,
      ...ascii('torch\nFloatStorage\n'),
      0x29,
      0x52,
      0x2e,
    ]);
    const err = await caught(() => parseTorchCheckpoint(torchZip(pickle), 'evil.pt'));
    expect(err.code).toBe('weights.unsafe_pickle');
    expect(err.message).toContain('FloatStorage');
  });

  it('refuses opcodes that build arbitrary objects (INST)', async () => {
    const pickle = Uint8Array.from([0x80, 0x02, 0x28, 0x69, ...ascii('os\nsystem\n'), 0x2e]);
    const err = await caught(() => parseTorchCheckpoint(torchZip(pickle), 'evil.pt'));
    expect(err.code).toBe('weights.unsafe_pickle');
  });
});

// ---- damaged files and wrong architectures ---------------------------------------------------

describe('damaged files', () => {
  it('a truncated safetensors file names where it ends and what it needs', async () => {
    const bytes = readFileSync(SG2('tiny-ffhq.safetensors'));
    const half = bytes.subarray(0, bytes.length >> 1);
    const err = await caught(() => parseSafetensors(half, 'tiny-ffhq.safetensors'));
    expect(err.code).toBe('weights.truncated');
    expect(err.message).toMatch(/ends at byte \d+, tensor "[\w.]+" needs bytes up to \d+/);
    expect(err.message).toContain('incomplete');
    const stub = await caught(() => parseSafetensors(bytes.subarray(0, 5), 'x.safetensors'));
    expect(stub.code).toBe('weights.truncated');
  });

  it('a truncated zip checkpoint is reported as incomplete', async () => {
    const bytes = readFileSync(SG2('tiny-ffhq.pt'));
    const err = await caught(() =>
      parseTorchCheckpoint(bytes.subarray(0, bytes.length >> 1), 'x.pt'),
    );
    expect(err.code).toBe('weights.truncated');
    expect(err.message).toContain('incomplete');
  });

  it('a truncated legacy checkpoint is reported as incomplete, in the pickle or the storages', async () => {
    const bytes = readFileSync(SG2('tiny-ffhq.legacy.pt'));
    for (const end of [200, bytes.length - 1000]) {
      const err = await caught(() => parseTorchCheckpoint(bytes.subarray(0, end), 'x.pt'));
      expect(err.code).toBe('weights.truncated');
      expect(err.message).toMatch(/ends at byte \d+/);
    }
  });

  it('a file that is not a checkpoint says so', async () => {
    const err = await caught(() =>
      parseTorchCheckpoint(Buffer.from('hello world, not weights'), 'x.pt'),
    );
    expect(['weights.corrupt', 'weights.unsafe_pickle']).toContain(err.code);
  });
});

describe('state dicts that do not fit the architecture', () => {
  it('a missing key is named', async () => {
    const t = reference();
    t.delete('convs.3.noise.weight');
    const err = await caught(() => StyleGan2Generator.fromTensors(t, 'x.safetensors'));
    expect(err.code).toBe('weights.mismatch');
    expect(err.message).toContain('"convs.3.noise.weight"');
  });

  it('a renamed key is named, both the missing and the unexpected one', async () => {
    const t = reference();
    t.set('to_rgbs.1.strength', t.get('to_rgbs.1.bias')!);
    const unexpected = await caught(() => StyleGan2Generator.fromTensors(t, 'x.safetensors'));
    expect(unexpected.code).toBe('weights.mismatch');
    expect(unexpected.message).toContain('"to_rgbs.1.strength"');
    t.delete('to_rgbs.1.bias');
    const missing = await caught(() => StyleGan2Generator.fromTensors(t, 'x.safetensors'));
    expect(missing.message).toContain('"to_rgbs.1.bias"');
  });

  it('a wrong shape names the key, the shape expected and the shape found', async () => {
    const t = reference();
    t.set('convs.3.conv.weight', {
      dtype: 'F32',
      shape: [1, 32, 32, 1, 1],
      data: new Float32Array(1024),
    });
    const err = await caught(() => StyleGan2Generator.fromTensors(t, 'x.safetensors'));
    expect(err.code).toBe('weights.mismatch');
    expect(err.message).toContain('"convs.3.conv.weight"');
    expect(err.message).toContain('[1,32,32,3,3]');
    expect(err.message).toContain('[1,32,32,1,1]');
  });

  it('a checkpoint without g_ema lists what it has', async () => {
    const err = await caught(() => extractStateDict({ g: 1, d: 2 }, 'g_ema', 'x.pt'));
    expect(err.code).toBe('weights.mismatch');
    expect(err.message).toContain('g, d');
  });
});

describe('tensor layouts', () => {
  /** `_rebuild_tensor_v2(storage 0 of `type`, offset, size, stride, False, OrderedDict())`. */
  function tensorPickle(type: string, numel: number, size: number[], stride: number[]): Uint8Array {
    const ints = (xs: number[]) => [0x28, ...xs.flatMap((x) => [0x4b, x]), 0x74];
    return Uint8Array.from([
      0x80,
      0x02,
      0x63,
      ...ascii('torch._utils\n_rebuild_tensor_v2\n'),
      0x28,
      0x28,
      ...binUnicode('storage'),
      0x63,
      ...ascii(`torch\n${type}\n`),
      ...binUnicode('0'),
      ...binUnicode('cpu'),
      0x4b,
      numel,
      0x74,
      0x51,
      0x4b,
      0,
      ...ints(size),
      ...ints(stride),
      0x89,
      0x63,
      ...ascii('collections\nOrderedDict\n'),
      0x29,
      0x52,
      0x74,
      0x52,
      0x2e,
    ]);
  }
  const zipWith = (pickle: Uint8Array, storage: Uint8Array) =>
    zipSync(
      { 'x/data.pkl': pickle, 'x/data/0': storage, 'x/byteorder': Buffer.from('little') },
      { level: 0 },
    );

  it('gathers a strided (transposed) view', () => {
    const storage = new Uint8Array(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer);
    const t = parseTorchCheckpoint(
      zipWith(tensorPickle('FloatStorage', 6, [2, 3], [1, 2]), storage),
    ) as RawTensor;
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([0, 2, 4, 1, 3, 5]);
  });

  it('widens half-precision storages to float32', () => {
    const storage = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x3800]).buffer);
    const t = parseTorchCheckpoint(
      zipWith(tensorPickle('HalfStorage', 3, [3], [1]), storage),
    ) as RawTensor;
    expect(t.dtype).toBe('F32');
    expect(Array.from(t.data)).toEqual([1, -2, 0.5]);
  });

  it('refuses a view that reads past its storage', async () => {
    const storage = new Uint8Array(Float32Array.from([0, 1]).buffer);
    const err = await caught(() =>
      parseTorchCheckpoint(
        zipWith(tensorPickle('FloatStorage', 2, [2, 2], [2, 1]), storage),
        'x.pt',
      ),
    );
    expect(['weights.corrupt', 'weights.truncated']).toContain(err.code);
  });
});
