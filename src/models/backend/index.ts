import { createRequire } from 'node:module';
import { dirname } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build registers no gradient functions; the union package's Node build does.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

import { NadaError } from '../../errors.ts';
import { registerTrainingKernels } from './training-kernels.ts';

export { registerTrainingKernels, trainingKernelConfigs } from './training-kernels.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  name: BackendName;
  reason: string;
}

const NAMES: BackendName[] = ['tensorflow', 'wasm', 'cpu'];
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/**
 * Picks the fastest tfjs backend that loads here and makes it current: native TensorFlow (GPU
 * build first), else WebAssembly with nadabot's gradient kernels, else the pure-JS `cpu`
 * backend (with a faster conv filter gradient). `NADABOT_BACKEND` (tensorflow, wasm or cpu)
 * overrides `preferred`; a forced backend that cannot load is an error, not a fallback.
 * Call once per process, before any tensor is made.
 *
 * @example
 * const choice = await selectBackend();
 * // { name: 'wasm', reason: 'native TensorFlow is not installed; WebAssembly (SIMD, 1 thread)' }
 */
export async function selectBackend(preferred?: BackendName): Promise<BackendChoice> {
  const forced = readForced() ?? preferred;
  if (forced === 'tensorflow') return required(await tryNative());
  if (forced === 'wasm') return required(await tryWasm('requested'));
  if (forced === 'cpu') return useCpu('requested');

  const native = await tryNative();
  if (typeof native !== 'string') return native;
  const wasm = await tryWasm(native);
  if (typeof wasm !== 'string') return wasm;
  return useCpu(wasm);
}

/** NADABOT_BACKEND, checked; undefined when unset. */
function readForced(): BackendName | undefined {
  const value = process.env.NADABOT_BACKEND;
  if (value === undefined || value === '') return undefined;
  if ((NAMES as string[]).includes(value)) return value as BackendName;
  throw new NadaError(
    'backend.unknown',
    `NADABOT_BACKEND is "${value}"; expected one of ${NAMES.join(', ')}, or unset to choose the fastest`,
    { value },
  );
}

/** A requested backend's choice, or the error that says why it did not start. */
function required(attempt: BackendChoice | string): BackendChoice {
  if (typeof attempt !== 'string') return attempt;
  throw new NadaError(
    'backend.unavailable',
    `the requested tfjs backend did not start: ${attempt}; install it, or unset NADABOT_BACKEND`,
    { reason: attempt },
  );
}

/** Native TensorFlow (GPU build first); on failure, the reason as a string. */
async function tryNative(): Promise<BackendChoice | string> {
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(pkg);
      await activate('tensorflow');
      return { name: 'tensorflow', reason: `${pkg} loaded` };
    } catch {
      // Not installed, or libtensorflow missing: try the next one.
    }
  }
  return 'native TensorFlow is not installed';
}

/** WebAssembly with nadabot's kernels; on failure, the reason as a string. */
async function tryWasm(why: string): Promise<BackendChoice | string> {
  try {
    setWasmPaths(wasmDir());
    await activate('wasm');
  } catch (err) {
    return `${why}; WebAssembly failed: ${(err as Error).message}`;
  }
  registerTrainingKernels('wasm');
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'SIMD' : 'no SIMD';
  // tfjs turns WebAssembly threads off under Node (its worker loader needs a browser).
  return { name: 'wasm', reason: `${why}; WebAssembly (${simd}, 1 thread)` };
}

async function useCpu(why: string): Promise<BackendChoice> {
  await activate('cpu');
  registerTrainingKernels('cpu');
  return { name: 'cpu', reason: why };
}

/** Makes `name` the current backend or throws. */
async function activate(name: string): Promise<void> {
  // setBackend resolves false (after logging) rather than throwing when init fails.
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise "${name}"`);
  await tf.ready();
}

/** node_modules/@tensorflow/tfjs-backend-wasm/dist/, where the .wasm binaries are. */
function wasmDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  return `${dirname(main)}/`;
}
