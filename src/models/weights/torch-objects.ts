import { NadaError } from '../../errors.ts';
import type { RawTensor } from './safetensors.ts';

/** Element types of torch storages: bytes per element and how to read one. */
const STORAGE_TYPES = {
  FloatStorage: { bytes: 4, float: true },
  DoubleStorage: { bytes: 8, float: true },
  HalfStorage: { bytes: 2, float: true },
  BFloat16Storage: { bytes: 2, float: true },
  LongStorage: { bytes: 8, float: false },
  IntStorage: { bytes: 4, float: false },
  ShortStorage: { bytes: 2, float: false },
  CharStorage: { bytes: 1, float: false },
  ByteStorage: { bytes: 1, float: false },
  BoolStorage: { bytes: 1, float: false },
} as const;

export type StorageTypeName = keyof typeof STORAGE_TYPES;

/** The names `torch.<X>Storage` that a checkpoint may reference. */
export const STORAGE_TYPE_NAMES = Object.keys(STORAGE_TYPES) as StorageTypeName[];

/** What the global `torch.FloatStorage` (etc.) unpickles to: an inert marker. */
export class StorageType {
  constructor(readonly name: StorageTypeName) {}
  get bytesPerElement(): number {
    return STORAGE_TYPES[this.name].bytes;
  }
}

/** A storage named by a persistent id; its bytes arrive from the zip entry or the legacy tail. */
export class TorchStorage {
  bytes: Uint8Array | null = null;
  constructor(
    readonly type: StorageType,
    readonly key: string,
    readonly numel: number,
  ) {}
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, …)` before its storage is read. */
export class TensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

/**
 * Turns a tensor reference into a contiguous RawTensor (float types → F32, integer types → I32,
 * 64-bit integers keep their low 32 bits). Strided views are gathered element by element.
 */
export function materializeTensor(ref: TensorRef, source: string): RawTensor {
  const { storage } = ref;
  if (!storage.bytes) {
    throw new NadaError('weights.corrupt', `${source}: storage ${storage.key} has no data`, {
      source,
      key: storage.key,
    });
  }
  const count = checkedCount(ref, source);
  const direct = contiguousFloat32(ref, count);
  if (direct) return { dtype: 'F32', shape: [...ref.size], data: direct };

  const values = decodeStorage(storage, source);
  const isFloat = STORAGE_TYPES[storage.type.name].float;
  const out = isFloat ? new Float32Array(count) : new Int32Array(count);
  gather(ref, values, out, source);
  return { dtype: isFloat ? 'F32' : 'I32', shape: [...ref.size], data: out };
}

/**
 * The tensor's element count, refused when a size is negative or the count exceeds what its
 * storage holds. A weight never repeats storage elements; a view that does (stride 0) could
 * make a file of a few hundred bytes ask for gigabytes.
 */
function checkedCount(ref: TensorRef, source: string): number {
  const { storage } = ref;
  const held = Math.floor(storage.bytes!.byteLength / storage.type.bytesPerElement);
  const count = ref.size.reduce((a, b) => a * b, 1);
  if (ref.size.every((d) => d >= 0) && count <= held) return count;
  throw new NadaError(
    'weights.corrupt',
    `${source}: a tensor of shape [${ref.size}] needs ${count} elements, its storage ` +
      `${storage.key} holds ${held}: the file is damaged or hostile`,
    { source, key: storage.key, shape: ref.size },
  );
}

/**
 * Fast path for the common case (a float32 tensor laid out row-major in its storage): one copy
 * of the bytes, no per-element decoding. Null when the tensor is strided or not float32.
 */
function contiguousFloat32(ref: TensorRef, count: number): Float32Array | null {
  if (ref.storage.type.name !== 'FloatStorage') return null;
  let expected = 1;
  for (let d = ref.size.length - 1; d >= 0; d--) {
    if (ref.size[d] !== 1 && ref.stride[d] !== expected) return null;
    expected *= ref.size[d];
  }
  const begin = ref.offset * 4;
  const end = begin + count * 4;
  const bytes = ref.storage.bytes!;
  if (ref.offset < 0 || end > bytes.byteLength || !LITTLE_ENDIAN_HOST) return null;
  // Copy through a fresh buffer: `bytes` may be a Node Buffer, whose slice() does not copy.
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes.subarray(begin, end));
  return out;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function gather(
  ref: TensorRef,
  values: ArrayLike<number>,
  out: Float32Array | Int32Array,
  source: string,
) {
  const rank = ref.size.length;
  const index = new Array<number>(rank).fill(0);
  for (let n = 0; n < out.length; n++) {
    let at = ref.offset;
    for (let d = 0; d < rank; d++) at += index[d] * ref.stride[d];
    if (at < 0 || at >= values.length) {
      throw new NadaError(
        'weights.corrupt',
        `${source}: a tensor reads element ${at} of storage ${ref.storage.key}, ` +
          `which holds ${values.length}: the file is damaged`,
        { source, key: ref.storage.key },
      );
    }
    out[n] = values[at];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < ref.size[d]) break;
      index[d] = 0;
    }
  }
}

const decoded = new WeakMap<TorchStorage, ArrayLike<number>>();

/** Storage bytes (little-endian) → numbers, cached per storage (g and g_ema share them). */
function decodeStorage(storage: TorchStorage, source: string): ArrayLike<number> {
  const cached = decoded.get(storage);
  if (cached) return cached;
  const bytes = storage.bytes!;
  const size = storage.type.bytesPerElement;
  const n = Math.floor(bytes.byteLength / size);
  if (n < storage.numel) {
    throw new NadaError(
      'weights.truncated',
      `${source}: storage ${storage.key} has ${n} elements, its header says ${storage.numel}: ` +
        'the download is incomplete; fetch the file again',
      { source, key: storage.key },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = READERS[storage.type.name];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = read(view, i * size);
  decoded.set(storage, out);
  return out;
}

const READERS: Record<StorageTypeName, (v: DataView, at: number) => number> = {
  FloatStorage: (v, at) => v.getFloat32(at, true),
  DoubleStorage: (v, at) => v.getFloat64(at, true),
  HalfStorage: (v, at) => halfToFloat(v.getUint16(at, true)),
  BFloat16Storage: (v, at) => bf16ToFloat(v.getUint16(at, true)),
  LongStorage: (v, at) => v.getInt32(at, true), // low 32 bits
  IntStorage: (v, at) => v.getInt32(at, true),
  ShortStorage: (v, at) => v.getInt16(at, true),
  CharStorage: (v, at) => v.getInt8(at),
  ByteStorage: (v, at) => v.getUint8(at),
  BoolStorage: (v, at) => v.getUint8(at),
};

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function bf16ToFloat(b: number): number {
  const f = new DataView(new ArrayBuffer(4));
  f.setUint32(0, b << 16);
  return f.getFloat32(0);
}
