import { unzipSync } from 'fflate';

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
  const files = unzip(buf, source);
  const pklName = Object.keys(files).find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pklName) {
    throw new NadaError(
      'weights.corrupt',
      `${source} is a zip archive without data.pkl: it is not a PyTorch checkpoint`,
      { source },
    );
  }
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  checkByteOrder(files[`${prefix}byteorder`], source);

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    const [kind, type, key, , numel] = Array.isArray(pid) ? pid : [];
    if (kind !== 'storage' || !(type instanceof StorageType) || typeof numel !== 'number') {
      throw new NadaError('weights.corrupt', `${source}: a persistent id is not a storage`, {
        source,
      });
    }
    const name = String(key);
    let storage = storages.get(name);
    if (!storage) {
      storage = new TorchStorage(type, name, numel);
      storage.bytes = storageBytes(files, `${prefix}data/${name}`, source);
      storages.set(name, storage);
    }
    return storage;
  };
  return unpickle(files[pklName], 0, { source, persistentLoad }).value;
}

function unzip(buf: Uint8Array, source: string): Record<string, Uint8Array> {
  try {
    return unzipSync(buf);
  } catch (err) {
    throw new NadaError(
      'weights.truncated',
      `${source} is not a readable zip archive (${(err as Error).message}): ` +
        'the download is incomplete or damaged; fetch the file again',
      { source },
    );
  }
}

function storageBytes(files: Record<string, Uint8Array>, name: string, source: string) {
  const bytes = files[name];
  if (!bytes) {
    throw new NadaError(
      'weights.truncated',
      `${source} has no entry ${name} for a tensor it references: the file is incomplete`,
      { source, entry: name },
    );
  }
  return bytes;
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
