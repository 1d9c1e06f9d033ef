import {
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  getKernel,
  registerKernel,
  Slice,
  unregisterKernel,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import { BackendOps } from './backend-ops.ts';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv2d-backprop.ts';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise-backprop.ts';
import { sliceCpu, sliceWasm } from './slice.ts';

/** A kernel written against the backend's own operations. */
type OpsKernel = (
  ops: BackendOps,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
) => TensorInfo;

const wasmKernels: Record<string, OpsKernel> = {
  // wasm has no kernel for this one.
  [Conv2DBackpropFilter]: (ops, { x, dy }, attrs) =>
    conv2dBackpropFilter(ops, x, dy, attrs as never),
  // wasm's own is a plain loop, ~15× slower than XNNPACK's forward convolution on 64 px maps.
  [Conv2DBackpropInput]: (ops, { dy, filter }, attrs) =>
    conv2dBackpropInput(ops, dy, filter, attrs as never),
  [DepthwiseConv2dNativeBackpropFilter]: (ops, { x, dy }, attrs) =>
    depthwiseBackpropFilter(ops, x, dy, attrs as never),
  [DepthwiseConv2dNativeBackpropInput]: (ops, { dy, filter }, attrs) =>
    depthwiseBackpropInput(ops, dy, filter, attrs as never),
  // wasm's own copies element by element above rank 4 (the gradient of StyleGAN2's 6-D pad).
  [Slice]: (ops, { x }, attrs) =>
    x.dtype === 'string'
      ? replacedKernel(Slice, 'wasm')(ops, { x }, attrs)
      : sliceWasm(ops.backend, x, attrs as never),
};

const cpuKernels: Record<string, OpsKernel> = {
  // cpu's own runs at ~0.01 GFLOP/s on 64 px maps; its forward convolution at ~0.3.
  [Conv2DBackpropFilter]: (ops, { x, dy }, attrs) =>
    conv2dBackpropFilter(ops, x, dy, attrs as never),
  // cpu's own indexes element by element for every non-contiguous slice.
  [Slice]: (ops, { x }, attrs) =>
    x.dtype === 'string'
      ? replacedKernel(Slice, 'cpu')(ops, { x }, attrs)
      : sliceCpu(ops.backend, x, attrs as never),
};

/** tfjs's own kernels that `registerTrainingKernels` replaced, by backend and name. */
const replaced = new Map<string, KernelConfig>();

/** Runs the tfjs kernel that nadabot replaced (for the cases nadabot's does not handle). */
function replacedKernel(name: string, backendName: string): OpsKernel {
  return (ops, inputs, attrs) => {
    const config = replaced.get(`${backendName}/${name}`);
    if (!config) throw new Error(`tfjs's ${name} kernel for ${backendName} was not kept`);
    const out = config.kernelFunc({ inputs, attrs: attrs as never, backend: ops.backend });
    return Array.isArray(out) ? out[0] : out;
  };
}

const KERNELS: Record<string, Record<string, OpsKernel>> = { wasm: wasmKernels, cpu: cpuKernels };

/** The kernels nadabot adds to (or replaces in) a backend, as tfjs kernel configs. */
export function trainingKernelConfigs(backendName: string): KernelConfig[] {
  const kernels = KERNELS[backendName] ?? {};
  return Object.entries(kernels).map(([kernelName, kernel]) => ({
    kernelName,
    backendName,
    kernelFunc: (({ inputs, attrs, backend }) =>
      kernel(
        new BackendOps(backend as KernelBackend, backendName),
        inputs as Record<string, TensorInfo>,
        attrs as Record<string, unknown>,
      )) as KernelFunc,
  }));
}

/**
 * Registers nadabot's gradient kernels for `backendName` in tfjs's kernel registry, replacing
 * slower ones that tfjs has. Idempotent. Returns the kernel names registered.
 *
 * @example
 * registerTrainingKernels('wasm');
 * // ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', …]
 */
export function registerTrainingKernels(backendName: string): string[] {
  const configs = trainingKernelConfigs(backendName);
  for (const config of configs) {
    const existing = getKernel(config.kernelName, backendName);
    if (existing) {
      const key = `${backendName}/${config.kernelName}`;
      if (!replaced.has(key)) replaced.set(key, existing);
      unregisterKernel(config.kernelName, backendName);
    }
    registerKernel(config);
  }
  return configs.map((c) => c.kernelName);
}
