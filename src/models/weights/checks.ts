import { NadaError } from '../../errors.ts';
import type { RawTensor } from './safetensors.ts';

export interface CheckOptions {
  /** where the tensors came from, for messages */
  source: string;
  /** keys that may be present but are not part of the architecture (e.g. `latent_avg`) */
  ignore?: string[];
}

/**
 * Checks that `tensors` holds exactly the keys of `expected`, each float32 with the expected
 * shape. Throws `weights.mismatch` naming the key, the shape expected and the shape found.
 *
 * @example
 * checkTensors(tensors, new Map([['style.1.weight', [512, 512]]]), { source: 'ffhq.pt' });
 */
export function checkTensors(
  tensors: Map<string, RawTensor>,
  expected: Map<string, number[]>,
  opts: CheckOptions,
): void {
  const { source } = opts;
  for (const [key, shape] of expected) {
    const t = tensors.get(key);
    if (!t) {
      throw new NadaError(
        'weights.mismatch',
        `${source} has no tensor "${key}" (expected shape [${shape}]): ` +
          'the file is not a checkpoint of this architecture',
        { source, key, expected: shape },
      );
    }
    if (!sameShape(t.shape, shape)) {
      throw new NadaError(
        'weights.mismatch',
        `${source}: tensor "${key}" has shape [${t.shape}], expected [${shape}]: ` +
          'the checkpoint was made for a different architecture',
        { source, key, expected: shape, found: t.shape },
      );
    }
    if (t.dtype !== 'F32') {
      throw new NadaError(
        'weights.dtype',
        `${source}: tensor "${key}" has dtype ${t.dtype}, expected F32`,
        { source, key, dtype: t.dtype },
      );
    }
  }
  const ignore = new Set(opts.ignore ?? []);
  for (const key of tensors.keys()) {
    if (!expected.has(key) && !ignore.has(key)) {
      throw new NadaError(
        'weights.mismatch',
        `${source} has an unexpected tensor "${key}": ` +
          'the checkpoint was made for a different architecture',
        { source, key },
      );
    }
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
