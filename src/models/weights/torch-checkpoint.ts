import { readFile } from 'node:fs/promises';

import { NadaError } from '../../errors.ts';
import { NamespaceRecord, newDict } from './pickle-globals.ts';
import type { RawTensor } from './safetensors.ts';
import { materializeTensor, TensorRef } from './torch-objects.ts';
import { readTorchLegacy } from './torch-legacy.ts';
import { isZip, readTorchZip } from './torch-zip.ts';

/**
 * Reads a PyTorch checkpoint (zip format or the pre-1.6 legacy format) without executing
 * anything: dicts become plain objects, tensors become RawTensor, `argparse.Namespace` a plain
 * record of its attributes. Any global outside the allow-list is refused
 * (`weights.unsafe_pickle`).
 *
 * @example
 * const ckpt = await loadTorchCheckpoint('stylegan2-ffhq-config-f.pt');
 * Object.keys(ckpt as object); // ['g_ema', 'latent_avg']
 */
export async function loadTorchCheckpoint(path: string): Promise<unknown> {
  return parseTorchCheckpoint(await readFile(path), path);
}

/** The same as loadTorchCheckpoint, for bytes already in memory. */
export function parseTorchCheckpoint(buf: Uint8Array, source = 'buffer'): unknown {
  if (buf.byteLength < 4) {
    throw new NadaError(
      'weights.truncated',
      `${source} is ${buf.byteLength} bytes, too short for a PyTorch checkpoint`,
      { source },
    );
  }
  const tree = isZip(buf) ? readTorchZip(buf, source) : readTorchLegacy(buf, source);
  return materialize(tree, source, new Map());
}

// Checkpoints nest a few levels (dict of dicts of tensors); far deeper is a hostile pickle
// aimed at the call stack.
const MAX_NESTING = 100;

/** Replaces tensor references by RawTensors throughout the tree (shared objects stay shared). */
function materialize(v: unknown, source: string, seen: Map<unknown, unknown>, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (seen.has(v)) return seen.get(v);
  if (depth > MAX_NESTING) throw tooDeep(source);
  if (v instanceof TensorRef) {
    const t = materializeTensor(v, source);
    seen.set(v, t);
    return t;
  }
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    seen.set(v, out);
    for (const item of v) out.push(materialize(item, source, seen, depth + 1));
    return out;
  }
  const fields = v instanceof NamespaceRecord ? v.attributes : (v as Record<string, unknown>);
  const out = newDict();
  seen.set(v, out);
  for (const [k, item] of Object.entries(fields)) {
    out[k] = materialize(item, source, seen, depth + 1);
  }
  return out;
}

function tooDeep(source: string): NadaError {
  return new NadaError(
    'weights.corrupt',
    `${source} nests containers more than ${MAX_NESTING} levels deep; a checkpoint nests a ` +
      'few: the file is damaged or hostile; refusing to read it',
    { source, limit: MAX_NESTING },
  );
}

/** True for a tensor as loadTorchCheckpoint returns it. */
export function isRawTensor(v: unknown): v is RawTensor {
  return (
    v !== null &&
    typeof v === 'object' &&
    'data' in v &&
    (v.data instanceof Float32Array || v.data instanceof Int32Array)
  );
}

/**
 * Picks a state dict out of a checkpoint: `obj[key]` when present (rosinality and NADA save
 * `{ g_ema, … }`), else `obj` itself when it is already a flat dict of tensors.
 */
export function extractStateDict(
  obj: unknown,
  key = 'g_ema',
  source = 'checkpoint',
): Map<string, RawTensor> {
  const root = obj as Record<string, unknown> | null;
  const entry = root && typeof root === 'object' && key in root ? root[key] : obj;
  const values = entry && typeof entry === 'object' ? Object.entries(entry) : [];
  if (values.length === 0 || !values.every(([, t]) => isRawTensor(t))) {
    const keys = root && typeof root === 'object' ? Object.keys(root).join(', ') : typeof obj;
    throw new NadaError(
      'weights.mismatch',
      `${source} has no state dict under "${key}" (top-level entries: ${keys})`,
      { source, key },
    );
  }
  return new Map(values as [string, RawTensor][]);
}
