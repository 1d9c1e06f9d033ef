import {
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import type { ConvPad } from './conv-geometry.ts';

type Pair = [number, number];

/**
 * The fast operations of one backend, called kernel to kernel without going through the engine:
 * nothing here is recorded on a gradient tape or counted in `tf.memory()`, so every
 * intermediate must be handed to `free` once used (the kernel's output is not).
 *
 * @example
 * const ops = new BackendOps(backend, 'wasm');
 * const t = ops.transpose(x, [3, 1, 2, 0]); // [c, h, w, b]
 * ops.free(t);
 */
export class BackendOps {
  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}

  /** Runs the backend's own kernel `name`. */
  run(name: string, inputs: unknown, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(name, this.backendName);
    if (!config) throw new Error(`kernel ${name} is not registered for ${this.backendName}`);
    const out = config.kernelFunc({ inputs: inputs as never, attrs, backend: this.backend });
    return Array.isArray(out) ? out[0] : out;
  }

  /** Releases intermediates made by this object's operations. */
  free(...infos: TensorInfo[]): void {
    for (const info of infos) this.backend.disposeData(info.dataId);
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Transpose, with axes that stay neighbours merged first (rank 6 often becomes 3). */
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    const merged = mergeAxes(x.shape, perm);
    if (merged.perm.length === x.shape.length) return this.run('Transpose', { x }, { perm });
    const flat = this.reshape(x, merged.shape);
    const moved = this.run('Transpose', { x: flat }, { perm: merged.perm });
    const out = this.reshape(
      moved,
      perm.map((a) => x.shape[a]),
    );
    this.free(flat, moved);
    return out;
  }

  /** Zero padding; `paddings` holds [before, after] per axis. */
  pad(x: TensorInfo, paddings: Pair[]): TensorInfo {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  mul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('Multiply', { a, b });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  /** NHWC convolution. */
  conv2d(
    x: TensorInfo,
    filter: TensorInfo,
    strides: Pair,
    dilations: Pair,
    pad: ConvPad = 'valid',
  ): TensorInfo {
    const attrs = { strides, pad, dataFormat: 'NHWC', dilations };
    return this.run('Conv2D', { x, filter }, attrs as unknown as NamedAttrMap);
  }

  /** NHWC depthwise convolution; filter [kH, kW, inC, multiplier]. */
  depthwiseConv2d(
    x: TensorInfo,
    filter: TensorInfo,
    strides: Pair,
    dilations: Pair,
    pad: ConvPad = 'valid',
  ): TensorInfo {
    const attrs = { strides, pad, dilations };
    return this.run('DepthwiseConv2dNative', { x, filter }, attrs as unknown as NamedAttrMap);
  }
}

/**
 * Groups axes that the permutation keeps adjacent and in order: transposing [b, q, q, 2, 2, c]
 * by [0, 1, 3, 2, 4, 5] is transposing [b·q, q, 2, 2·c] by [0, 2, 1, 3].
 */
export function mergeAxes(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  // Runs of the output order that are consecutive input axes.
  const runs: number[][] = [];
  for (const axis of perm) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === axis) last.push(axis);
    else runs.push([axis]);
  }
  // Each run becomes one axis; number the runs by their place in the input.
  const byInput = [...runs].sort((a, b) => a[0] - b[0]);
  const mergedShape = byInput.map((run) => run.reduce((n, a) => n * shape[a], 1));
  const mergedPerm = runs.map((run) => byInput.indexOf(run));
  return { shape: mergedShape, perm: mergedPerm };
}
