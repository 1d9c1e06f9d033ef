import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';

import { NadaError } from '../../errors.ts';

/** A tensor as stored on disk: a flat typed array with its shape. */
export interface RawTensor {
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/**
 * Stored dtypes nadabot reads. Half precision (F16, BF16) is widened to float32 on read and
 * I64 narrowed to int32 (Hugging Face files keep `position_ids` as I64): tfjs works in 32 bits.
 */
const BYTES_PER_ELEMENT = { F32: 4, I32: 4, F16: 2, BF16: 2, I64: 8 } as const;
type StoredDtype = keyof typeof BYTES_PER_ELEMENT;

// A header beyond this is not a weights file we made or should trust.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * Parses a safetensors buffer (8-byte little-endian header length, JSON header, raw data).
 * Every offset is checked against the buffer before anything is read.
 *
 * @example
 * const { tensors } = parseSafetensors(readFileSync('tiny-ffhq.safetensors'));
 * tensors.get('latent_avg').shape; // [64]
 */
export function parseSafetensors(buf: Uint8Array, source = 'buffer'): SafetensorsFile {
  const headerLen = headerLength(buf, buf.byteLength, source);
  const header = parseHeader(buf.subarray(8, 8 + headerLen), source);
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};

  // before any copy: overlapping ranges would multiply the file's size in memory
  checkDisjoint(header, source);
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = readMetadata(entry, source);
      continue;
    }
    tensors.set(name, readEntry(buf, dataStart, name, entry, source));
  }
  return { tensors, metadata };
}

/**
 * The header's length from a file's first 8 bytes (`start`), checked against the file's
 * `byteLength` before anything else is read.
 */
function headerLength(start: Uint8Array, byteLength: number, source: string): number {
  if (byteLength < 8 || start.byteLength < 8) {
    throw new NadaError(
      'weights.truncated',
      `${source} is ${byteLength} bytes, too short for a safetensors header: ` +
        'the file is incomplete or not safetensors',
      { source },
    );
  }
  const view = new DataView(start.buffer, start.byteOffset, 8);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > byteLength) {
    throw new NadaError(
      'weights.truncated',
      `${source} ends at byte ${byteLength}, its header says it needs ${8 + headerLen}: ` +
        'the download is incomplete or the file is not safetensors',
      { source, headerLen },
    );
  }
  return headerLen;
}

function readMetadata(entry: unknown, source: string): Record<string, string> {
  const ok =
    entry !== null &&
    typeof entry === 'object' &&
    !Array.isArray(entry) &&
    Object.values(entry).every((v) => typeof v === 'string');
  if (!ok) {
    throw new NadaError(
      'weights.corrupt',
      `${source}: the safetensors __metadata__ must map names to strings: the file is damaged`,
      { source },
    );
  }
  return entry as Record<string, string>;
}

/**
 * Refuses tensors whose byte ranges overlap, as the safetensors format does: each tensor is
 * copied out of the file, so overlapping ranges would let a small file claim many times its
 * size in memory (400 tensors over the same 4 MB: 1.6 GB).
 */
function checkDisjoint(header: Record<string, unknown>, source: string): void {
  // malformed offsets are left to readEntry, which names them
  const spans = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, e]) => ({ name, at: (e as { data_offsets?: unknown })?.data_offsets }))
    .filter((s): s is { name: string; at: [number, number] } => isSpan(s.at) && s.at[1] > s.at[0])
    .sort((a, b) => a.at[0] - b.at[0]);
  for (let i = 1; i < spans.length; i++) {
    const [prev, next] = [spans[i - 1], spans[i]];
    if (next.at[0] < prev.at[1]) {
      throw new NadaError(
        'weights.corrupt',
        `${source}: tensors "${prev.name}" and "${next.name}" share bytes ` +
          `(${prev.at[0]}–${prev.at[1]} and ${next.at[0]}–${next.at[1]}): ` +
          'a safetensors file never overlaps tensors; the file is damaged or hostile',
        { source, tensors: [prev.name, next.name] },
      );
    }
  }
}

function parseHeader(bytes: Uint8Array, source: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('header is not an object');
    }
    return parsed;
  } catch (err) {
    throw new NadaError(
      'weights.corrupt',
      `${source} has an unreadable safetensors header (${(err as Error).message}): ` +
        'the file is damaged or not safetensors',
      { source },
    );
  }
}

function isSpan(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((o) => typeof o === 'number');
}

function readEntry(
  buf: Uint8Array,
  dataStart: number,
  name: string,
  entry: unknown,
  source: string,
): RawTensor {
  const e = entry as { dtype?: string; shape?: unknown; data_offsets?: unknown };
  const dtype = e.dtype as StoredDtype;
  if (!Object.hasOwn(BYTES_PER_ELEMENT, String(dtype))) {
    throw new NadaError(
      'weights.dtype',
      `${source}: tensor "${name}" has dtype ${String(dtype)}, expected F32, F16, BF16, ` +
        'I32 or I64; convert the checkpoint to float32',
      { source, name, dtype },
    );
  }
  const shape = e.shape;
  const offsets = e.data_offsets;
  const validShape = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0);
  const validOffsets =
    Array.isArray(offsets) &&
    offsets.length === 2 &&
    offsets.every((o) => Number.isInteger(o) && o >= 0) &&
    offsets[0] <= offsets[1];
  if (!validShape || !validOffsets) {
    throw new NadaError('weights.corrupt', `${source}: tensor "${name}" has a malformed entry`, {
      source,
      name,
    });
  }
  const [begin, end] = offsets as number[];
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = count * BYTES_PER_ELEMENT[dtype];
  if (end - begin !== bytes) {
    throw new NadaError(
      'weights.corrupt',
      `${source}: tensor "${name}" of shape [${shape}] needs ${bytes} bytes, ` +
        `its offsets span ${end - begin}`,
      { source, name },
    );
  }
  if (dataStart + end > buf.byteLength) {
    throw new NadaError(
      'weights.truncated',
      `${source} ends at byte ${buf.byteLength}, tensor "${name}" needs bytes up to ` +
        `${dataStart + end}: the download is incomplete; fetch the file again`,
      { source, name },
    );
  }
  // Copy so the tensor is aligned and independent of the file buffer.
  // (Uint8Array's slice copies; a Node Buffer's own slice would not.)
  const slice = Uint8Array.prototype.slice.call(buf, dataStart + begin, dataStart + end);
  const dims = shape as number[];
  if (dtype === 'F32') {
    return { dtype, shape: dims, data: new Float32Array(slice.buffer, 0, count) };
  }
  if (dtype === 'I32') {
    return { dtype, shape: dims, data: new Int32Array(slice.buffer, 0, count) };
  }
  if (dtype === 'I64') {
    return { dtype: 'I32', shape: dims, data: narrowI64(slice, count, `${source}: "${name}"`) };
  }
  return { dtype: 'F32', shape: dims, data: widenHalf(slice, count, dtype) };
}

/** F16 or BF16 little-endian bytes → float32 (exact: every half value is a float32 value). */
function widenHalf(bytes: Uint8Array, count: number, dtype: 'F16' | 'BF16'): Float32Array {
  const halves = new Uint16Array(bytes.buffer, 0, count);
  const out = new Float32Array(count);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
    return out;
  }
  for (let i = 0; i < count; i++) out[i] = f16ToFloat(halves[i]);
  return out;
}

function f16ToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024); // zero and subnormals
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** I64 → int32, refusing values that do not fit (ids and indices always do). */
function narrowI64(bytes: Uint8Array, count: number, what: string): Int32Array {
  const wide = new BigInt64Array(bytes.buffer, 0, count);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = wide[i];
    if (v > 2147483647n || v < -2147483648n) {
      throw new NadaError('weights.dtype', `${what} holds ${v}, beyond int32`, { what });
    }
    out[i] = Number(v);
  }
  return out;
}

/** Reads a safetensors file from disk. */
export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
}

/** The `__metadata__` of a safetensors file, reading its header and none of its tensors. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  const fd = openSync(path, 'r');
  try {
    const start = Buffer.alloc(8);
    readSync(fd, start, 0, 8, 0);
    const headerLen = headerLength(start, fstatSync(fd).size, path);
    const bytes = Buffer.alloc(headerLen);
    readSync(fd, bytes, 0, headerLen, 8);
    const { __metadata__: metadata } = parseHeader(bytes, path);
    return metadata === undefined ? {} : readMetadata(metadata, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Serialises tensors (and string metadata) to the safetensors layout, header padded to 8 bytes.
 */
export function encodeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;

  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf-8');

  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Writes tensors to a safetensors file. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata: Record<string, string> = {},
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
