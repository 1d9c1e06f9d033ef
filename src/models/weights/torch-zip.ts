import { unzipSync, type UnzipFileInfo } from 'fflate';

import { NadaError } from '../../errors.ts';
import { unpickle } from './pickle.ts';
import { StorageType, TorchStorage } from './torch-objects.ts';

/** True when the bytes start like a zip archive (torch ≥ 1.6 `torch.save`). */
export function isZip(buf: Uint8Array): boolean {
  return buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
}

/**
 * Reads a zip-format torch checkpoint: `<prefix>/data.pkl` (the object pickle) and
 * `<prefix>/data/<key>` (one raw little-endian storage per key). Returns the unpickled object,
 * tensors still as references to their storages.
 */
export function readTorchZip(buf: Uint8Array, source: string): unknown {
  // the listing only: entries are inflated one by one, when the pickle names them
  const entries = listEntries(buf, source);
  const pklName = [...entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pklName) {
    throw new NadaError(
      'weights.corrupt',
      `${source} is a zip archive without data.pkl: it is not a PyTorch checkpoint`,
      { source },
    );
  }
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  const entry = (name: string, maxBytes: number) => inflate(buf, entries, name, maxBytes, source);
  const order = entries.has(`${prefix}byteorder`) ? entry(`${prefix}byteorder`, 64) : undefined;
  checkByteOrder(order, source);

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    const [kind, type, key, , numel] = Array.isArray(pid) ? pid : [];
    if (kind !== 'storage' || !(type instanceof StorageType) || !isCount(numel)) {
      throw new NadaError('weights.corrupt', `${source}: a persistent id is not a storage`, {
        source,
      });
    }
    const name = String(key);
    let storage = storages.get(name);
    if (!storage) {
      storage = new TorchStorage(type, name, numel);
      const entryName = `${prefix}data/${name}`;
      storage.bytes = entry(entryName, numel * type.bytesPerElement);
      storages.set(name, storage);
    }
    return storage;
  };
  const pickle = entry(pklName, MAX_PICKLE_BYTES);
  return unpickle(pickle, 0, { source, persistentLoad }).value;
}

// data.pkl of the largest official checkpoints is a few megabytes; tensors live elsewhere.
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Name → inflated size of every entry, read from the central directory (nothing inflated). */
function listEntries(buf: Uint8Array, source: string): Map<string, number> {
  const entries = new Map<string, number>();
  unzipOrFail(buf, source, (file) => {
    entries.set(file.name, file.originalSize);
    return false;
  });
  return entries;
}

/**
 * Inflates one entry, refusing it before inflation when the archive says it is larger than
 * `maxBytes` (a storage's bytes are its element count times the element size): a small
 * archive cannot make nadabot inflate gigabytes.
 */
function inflate(
  buf: Uint8Array,
  entries: Map<string, number>,
  name: string,
  maxBytes: number,
  source: string,
): Uint8Array {
  const size = entries.get(name);
  if (size === undefined) {
    throw new NadaError(
      'weights.truncated',
      `${source} has no entry ${name} for a tensor it references: the file is incomplete`,
      { source, entry: name },
    );
  }
  if (size > maxBytes) {
    throw new NadaError(
      'weights.corrupt',
      `${source}: entry ${name} inflates to ${size} bytes, at most ${maxBytes} expected: ` +
        'the file is damaged or hostile; refusing to unpack it',
      { source, entry: name, size, maxBytes },
    );
  }
  return unzipOrFail(buf, source, (file) => file.name === name)[name];
}

function unzipOrFail(
  buf: Uint8Array,
  source: string,
  filter: (file: UnzipFileInfo) => boolean,
): Record<string, Uint8Array> {
  try {
    return unzipSync(buf, { filter });
  } catch (err) {
    throw new NadaError(
      'weights.truncated',
      `${source} is not a readable zip archive (${(err as Error).message}): ` +
        'the download is incomplete or damaged; fetch the file again',
      { source },
    );
  }
}

function checkByteOrder(entry: Uint8Array | undefined, source: string): void {
  // Files without the entry were written little-endian (torch < 1.13 wrote no byteorder).
  const order = entry ? new TextDecoder().decode(entry).trim() : 'little';
  if (order !== 'little') {
    throw new NadaError(
      'weights.unsupported',
      `${source} stores tensors ${order}-endian; re-save it on a little-endian machine`,
      { source, order },
    );
  }
}
