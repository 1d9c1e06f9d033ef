import {
  getKernel,
  type KernelBackend,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

type Pair = [number, number];

/**
 * The fast operations of one backend, called kernel to kernel without going through the engine:
 * nothing here is recorded on a gradient tape or counted in `tf.memory()`, so every
 * intermediate must be handed to `free` once used (the kernel's output is not).
 *
 * @example
 * const ops = new BackendOps(backend, 'wasm');
 * const y = ops.matMul(a, b, true, false); // aᵀ·b
 * ops.free(a);
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

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Zero padding; `paddings` holds [before, after] per axis. */
  pad(x: TensorInfo, paddings: Pair[]): TensorInfo {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run('StridedSlice', { x }, { begin, end, strides, beginMask: 0, endMask: 0 });
  }

  concat(xs: TensorInfo[], axis: number): TensorInfo {
    return this.run('Concat', xs, { axis });
  }

  matMul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA, transposeB });
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

  /** NHWC convolution without padding. */
  conv2d(x: TensorInfo, filter: TensorInfo, strides: Pair, dilations: Pair): TensorInfo {
    const attrs = { strides, pad: 'valid', dataFormat: 'NHWC', dilations };
    return this.run('Conv2D', { x, filter }, attrs as unknown as NamedAttrMap);
  }

  /** NHWC depthwise convolution without padding; filter [kH, kW, inC, multiplier]. */
  depthwiseConv2d(x: TensorInfo, filter: TensorInfo, strides: Pair, dilations: Pair): TensorInfo {
    const attrs = { strides, pad: 'valid', dilations };
    return this.run('DepthwiseConv2dNative', { x, filter }, attrs as unknown as NamedAttrMap);
  }
}
