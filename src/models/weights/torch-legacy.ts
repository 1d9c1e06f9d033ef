import { NadaError } from '../../errors.ts';
import { unpickle } from './pickle.ts';
import { StorageType, TorchStorage } from './torch-objects.ts';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL = 1001;

/**
 * Reads a pre-1.6 torch checkpoint: five pickles in a row (magic number, protocol version,
 * sys info, the object, the sorted storage keys), then each storage as an 8-byte element count
 * followed by its raw little-endian bytes.
 */
export function readTorchLegacy(buf: Uint8Array, source: string): unknown {
  // header pickles
  let at = 0;
  const next = (persistentLoad?: (pid: unknown) => unknown) => {
    const r = unpickle(buf, at, { source, persistentLoad });
    at = r.end;
    return r.value;
  };
  const magic = next();
  if (magic !== MAGIC) {
    throw new NadaError(
      'weights.corrupt',
      `${source} is neither a zip nor a legacy PyTorch checkpoint (wrong magic number)`,
      { source },
    );
  }
  const protocol = next();
  if (protocol !== PROTOCOL) {
    throw new NadaError('weights.unsupported', `${source}: torch protocol ${protocol} unknown`, {
      source,
    });
  }
  const sysInfo = next() as Record<string, unknown>;
  if (sysInfo?.little_endian !== true) {
    throw new NadaError('weights.unsupported', `${source} was saved big-endian`, { source });
  }

  // the object, storages collected by key
  const storages = new Map<string, TorchStorage>();
  const obj = next((pid) => legacyStorage(pid, storages, source));

  // storage keys, then the raw storages in that order
  const keys = next();
  if (!Array.isArray(keys)) throw new NadaError('weights.corrupt', `${source}: no storage keys`);
  for (const key of keys) {
    const storage = storages.get(String(key));
    if (!storage) throw new NadaError('weights.corrupt', `${source}: stray storage ${key}`);
    at = readStorage(buf, at, storage, source);
  }
  return obj;
}

function legacyStorage(pid: unknown, storages: Map<string, TorchStorage>, source: string) {
  const [kind, type, key, , numel, view] = Array.isArray(pid) ? pid : [];
  if (kind !== 'storage' || !(type instanceof StorageType) || typeof numel !== 'number') {
    throw new NadaError('weights.corrupt', `${source}: a persistent id is not a storage`, {
      source,
    });
  }
  if (view !== null && view !== undefined) {
    throw new NadaError(
      'weights.unsupported',
      `${source} uses storage views (a pre-1.0 feature); re-save it with a newer torch`,
      { source },
    );
  }
  const name = String(key);
  let storage = storages.get(name);
  if (!storage) {
    storage = new TorchStorage(type, name, numel);
    storages.set(name, storage);
  }
  return storage;
}

function readStorage(buf: Uint8Array, at: number, storage: TorchStorage, source: string): number {
  const need = (end: number) => {
    if (end > buf.byteLength) {
      throw new NadaError(
        'weights.truncated',
        `${source} ends at byte ${buf.byteLength}, storage ${storage.key} needs bytes up to ` +
          `${end}: the download is incomplete; fetch the file again`,
        { source, key: storage.key },
      );
    }
  };
  need(at + 8);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = Number(view.getBigInt64(at, true));
  const end = at + 8 + count * storage.type.bytesPerElement;
  need(end);
  storage.bytes = buf.subarray(at + 8, end);
  return end;
}
