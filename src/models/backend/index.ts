import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  name: BackendName;
  reason: string;
}

/**
 * Picks the fastest tfjs backend that loads here: native TensorFlow (GPU build first), else
 * the pure-JS `cpu` backend. Call once per process, before any tensor is made.
 *
 * @example
 * const choice = await selectBackend();
 * // { name: 'cpu', reason: '@tensorflow/tfjs-node is not installed' }
 */
export async function selectBackend(preferred?: BackendName): Promise<BackendChoice> {
  if (preferred === 'cpu') return use('cpu', 'requested');
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return use('tensorflow', `${pkg} loaded`);
    } catch {
      // Not installed or libtensorflow missing: try the next one.
    }
  }
  return use('cpu', 'native TensorFlow is not installed');
}

async function use(name: BackendName, reason: string): Promise<BackendChoice> {
  await tf.setBackend(name);
  await tf.ready();
  return { name, reason };
}
