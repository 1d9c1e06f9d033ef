import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectBackend, trainingKernelConfigs } from '../src/models/backend/index.ts';

// Float32 sums over a few thousand products, in a different order from tfjs's loops.
const TOL = { atol: 1e-5, rtol: 1e-5 };
const REFERENCE = 'cpu-reference';
const BACKENDS = ['wasm', 'cpu'];

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
type Shape4 = [number, number, number, number];

interface ConvCase {
  x: Shape4; // NHWC
  k: [number, number];
  outC: number; // channels, or the depthwise channel multiplier
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
}

const EXPLICIT: Pad = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];

const WIDE: Pad = [
  [0, 0],
  [4, 0],
  [0, 5],
  [0, 0],
];

const CONV_CASES: ConvCase[] = [
  { x: [1, 7, 9, 3], k: [3, 3], outC: 5, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 5], k: [3, 3], outC: 7, stride: 2, pad: 'same' },
  { x: [3, 9, 7, 6], k: [3, 2], outC: 3, stride: 2, pad: 'valid' },
  { x: [2, 10, 11, 3], k: [4, 4], outC: 6, stride: 2, pad: EXPLICIT },
  { x: [1, 6, 6, 7], k: [1, 1], outC: 5, stride: 1, pad: 'valid' },
  { x: [2, 12, 12, 9], k: [3, 3], outC: 12, stride: 1, pad: EXPLICIT },
  { x: [2, 11, 10, 4], k: [3, 3], outC: 5, stride: 3, pad: 'same' },
  { x: [1, 9, 9, 3], k: [1, 1], outC: 4, stride: 2, pad: 'valid' },
  { x: [2, 13, 12, 3], k: [5, 4], outC: 6, stride: 2, pad: EXPLICIT },
  { x: [3, 8, 9, 5], k: [3, 3], outC: 3, stride: [2, 1], pad: 'same' },
  // pads wider than the kernel: the gradient's own padding turns into cropping
  { x: [1, 6, 7, 2], k: [4, 4], outC: 3, stride: 1, pad: WIDE },
  { x: [2, 7, 6, 3], k: [3, 2], outC: 2, stride: 2, pad: WIDE },
];

const DEPTHWISE_CASES: ConvCase[] = [
  { x: [1, 7, 9, 3], k: [3, 3], outC: 1, stride: 1, pad: 'same' },
  { x: [2, 9, 8, 5], k: [4, 4], outC: 1, stride: 1, pad: EXPLICIT },
  { x: [3, 8, 8, 6], k: [3, 3], outC: 2, stride: 2, pad: 'same' },
  { x: [2, 11, 9, 3], k: [2, 3], outC: 3, stride: 2, pad: 'valid' },
  { x: [1, 12, 10, 5], k: [3, 3], outC: 1, stride: 1, pad: 'same', dilation: 2 },
  { x: [2, 13, 12, 3], k: [3, 2], outC: 2, stride: 1, pad: 'valid', dilation: 3 },
  { x: [1, 6, 7, 4], k: [3, 3], outC: 1, stride: 1, pad: WIDE },
];

/** tfjs's own cpu kernels, kept under another backend name before nadabot replaces any. */
function registerReferenceBackend(): void {
  tf.registerBackend(REFERENCE, () => new MathBackendCPU(), -1);
  for (const kernel of tf.getKernelsForBackend('cpu')) {
    tf.registerKernel({ ...kernel, backendName: REFERENCE });
  }
}

/** Runs `f` with `backend` current and returns its result as plain numbers. */
async function on(
  backend: string,
  f: () => tf.Tensor,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  const out = { shape: t.shape, data: (await t.data()) as Float32Array };
  t.dispose();
  return out;
}

function expectNear(
  actual: { shape: number[]; data: Float32Array },
  expected: typeof actual,
  label: string,
) {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.data.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(actual.data[i] - expected.data[i]));
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
  }
  expect(maxRef, `${label}: reference is not all zeros`).toBeGreaterThan(0);
  expect(maxErr, label).toBeLessThanOrEqual(TOL.atol + TOL.rtol * maxRef);
}

function caseName(c: ConvCase): string {
  const pad = typeof c.pad === 'string' ? c.pad : 'explicit';
  return `x ${c.x.join('×')}, k ${c.k.join('×')}, out ${c.outC}, stride ${String(c.stride)}, ${pad}, dilation ${c.dilation ?? 1}`;
}

/** Seeded random tensors that stay the same across backends (made as plain arrays). */
function random(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed));
}

function convShapes(c: ConvCase, depthwise: boolean) {
  const filter: Shape4 = [c.k[0], c.k[1], c.x[3], c.outC];
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    filter,
    c.stride,
    c.dilation ?? 1,
    c.pad,
    undefined,
    depthwise,
  );
  return { filter, dy: info.outShape };
}

beforeAll(async () => {
  registerReferenceBackend();
  await selectBackend('cpu');
  await selectBackend('wasm');
});

describe('nadabot kernels', () => {
  it('registers the four wasm gradient kernels, Slice on both, and the cpu filter gradient', () => {
    const wasm = trainingKernelConfigs('wasm').map((k) => k.kernelName);
    expect(wasm.sort()).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'Slice',
    ]);
    for (const name of wasm) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    expect(trainingKernelConfigs('cpu').map((k) => k.kernelName)).toEqual([
      'Conv2DBackpropFilter',
      'Slice',
    ]);
  });
});

describe.each(BACKENDS)('on %s, conv2d gradient kernels match tfjs cpu', (backend) => {
  it.each(CONV_CASES.map((c) => [caseName(c), c] as const))('%s', async (_name, c) => {
    const { filter, dy } = convShapes(c, false);
    const x = random(c.x, 1);
    const w = random(filter, 2);
    const g = random(dy, 3);
    const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
    const dFilter = () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy: g },
          { ...attrs, filterShape: filter },
        ) as tf.Tensor;
    const dInput = () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy: g, filter: w },
          { ...attrs, inputShape: c.x },
        ) as tf.Tensor;

    expectNear(await on(backend, dFilter), await on(REFERENCE, dFilter), 'dL/dfilter');
    expectNear(await on(backend, dInput), await on(REFERENCE, dInput), 'dL/dx');
    tf.dispose([x, w, g]);
  });
});

describe.each(BACKENDS)('on %s, conv2d gradient kernels in NCHW', (backend) => {
  it('match tfjs cpu for x 2×5×9×8 (NCHW), k 3×3, out 4, stride 2, same', async () => {
    const xShape: Shape4 = [2, 5, 9, 8];
    const filter: Shape4 = [3, 3, 5, 4];
    const x = random(xShape, 15);
    const w = random(filter, 16);
    const g = random([2, 4, 5, 4], 17);
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
    const dFilter = () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy: g },
          { ...attrs, filterShape: filter },
        ) as tf.Tensor;
    const dInput = () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy: g, filter: w },
          { ...attrs, inputShape: xShape },
        ) as tf.Tensor;
    expectNear(await on(backend, dFilter), await on(REFERENCE, dFilter), 'dL/dfilter');
    expectNear(await on(backend, dInput), await on(REFERENCE, dInput), 'dL/dx');
    tf.dispose([x, w, g]);
  });
});

// cpu keeps tfjs's own depthwise gradients.
describe.each(['wasm'])('on %s, depthwise gradient kernels match tfjs cpu', (backend) => {
  it.each(DEPTHWISE_CASES.map((c) => [caseName(c), c] as const))('%s', async (_name, c) => {
    const { filter, dy } = convShapes(c, true);
    const d = c.dilation ?? 1;
    const x = random(c.x, 4);
    const w = random(filter, 5);
    const g = random(dy, 6);
    const attrs = { strides: c.stride, pad: c.pad, dilations: d };
    const run = (name: string, inputs: tf.NamedTensorMap, extra: object) => () =>
      tf.engine().runKernel(name, inputs, { ...attrs, ...extra }) as tf.Tensor;
    const dFilter = run(
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy: g },
      { filterShape: filter },
    );
    const dInput = run(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: g, filter: w },
      { inputShape: c.x },
    );

    // tfjs's cpu loops ignore dilation; its reference is the undilated filter with zeros between taps.
    const [refFilter, refInput] = d === 1 ? [dFilter, dInput] : dilatedReference(c, x, w, g);
    expectNear(await on(backend, dFilter), await on(REFERENCE, refFilter), 'dL/dfilter');
    expectNear(await on(backend, dInput), await on(REFERENCE, refInput), 'dL/dx');
    tf.dispose([x, w, g]);
  });
});

/** Depthwise gradients of a dilated filter from undilated cpu kernels on a zero-stuffed filter. */
function dilatedReference(c: ConvCase, x: tf.Tensor, w: tf.Tensor, g: tf.Tensor) {
  const d = c.dilation ?? 1;
  const kh = (c.k[0] - 1) * d + 1;
  const kw = (c.k[1] - 1) * d + 1;
  const stuffedShape: Shape4 = [kh, kw, c.x[3], c.outC];
  const attrs = { strides: c.stride, pad: c.pad, dilations: 1 };
  const stuff = () => {
    const spread = tf.reshape(w, [c.k[0], 1, c.k[1], 1, c.x[3], c.outC]);
    const padded = tf.pad(spread, [
      [0, 0],
      [0, d - 1],
      [0, 0],
      [0, d - 1],
      [0, 0],
      [0, 0],
    ]);
    const full = tf.reshape(padded, [c.k[0] * d, c.k[1] * d, c.x[3], c.outC]);
    return tf.slice(full, [0, 0, 0, 0], stuffedShape);
  };
  const refFilter = () => {
    const full = tf.engine().runKernel(
      'DepthwiseConv2dNativeBackpropFilter',
      { x, dy: g },
      {
        ...attrs,
        filterShape: stuffedShape,
      },
    ) as tf.Tensor;
    return tf.stridedSlice(full, [0, 0, 0, 0], stuffedShape, [d, d, 1, 1]);
  };
  const refInput = () =>
    tf.engine().runKernel(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: g, filter: stuff() },
      {
        ...attrs,
        inputShape: c.x,
      },
    ) as tf.Tensor;
  return [refFilter, refInput];
}

type GradFn = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

const GRAD_CASES: [string, Shape4, Shape4, GradFn][] = [
  ['conv2d stride 1 same', [2, 9, 9, 5], [3, 3, 5, 6], (x, w) => tf.conv2d(x, w, 1, 'same')],
  [
    'conv2d stride 2 explicit',
    [3, 10, 9, 3],
    [4, 4, 3, 5],
    (x, w) => tf.conv2d(x, w, 2, EXPLICIT as never),
  ],
  [
    'conv2dTranspose stride 2 (StyleGAN2 upsampling)',
    [2, 5, 5, 6],
    [3, 3, 7, 6],
    (x, w) => tf.conv2dTranspose(x, w, [2, 11, 11, 7], 2, 'valid'),
  ],
  [
    'depthwise 4×4 explicit (blur)',
    [2, 8, 8, 5],
    [4, 4, 5, 1],
    (x, w) => tf.depthwiseConv2d(x, w, 1, EXPLICIT as never),
  ],
  [
    'depthwise multiplier 2 stride 2',
    [1, 9, 9, 3],
    [3, 3, 3, 2],
    (x, w) => tf.depthwiseConv2d(x, w, 2, 'same'),
  ],
];

/** dL/dx and dL/dw of L = sum(f(x, w) · r) on the current backend. */
function gradsOf(f: GradFn, x: tf.Tensor4D, w: tf.Tensor4D, seed: number): tf.Tensor[] {
  return tf.tidy(() => {
    const r = random(f(x, w).shape, seed);
    return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), r)),
    )([x, w]);
  });
}

describe.each(BACKENDS)('on %s, tf.grad through convolutions matches tfjs cpu', (backend) => {
  it.each(GRAD_CASES)('%s', async (_name, xShape, wShape, f) => {
    const x = random(xShape, 7) as tf.Tensor4D;
    const w = random(wShape, 8) as tf.Tensor4D;
    for (const [i, label] of ['dL/dx', 'dL/dw'].entries()) {
      const grad = () => gradsOf(f, x, w, 9)[i];
      expectNear(await on(backend, grad), await on(REFERENCE, grad), label);
    }
    tf.dispose([x, w]);
  });
});

describe.each(BACKENDS)('on %s, repeated gradients', (backend) => {
  it('leave tf.memory() as they found it (tensors and backend buffers)', async () => {
    await tf.setBackend(backend);
    const x = random([2, 8, 8, 4], 10) as tf.Tensor4D;
    const w = random([3, 3, 4, 4], 11) as tf.Tensor4D;
    const blur = random([4, 4, 4, 1], 12) as tf.Tensor4D;
    const step = () => {
      const up = (a: tf.Tensor4D, b: tf.Tensor4D) =>
        tf.conv2dTranspose(a, b, [2, 17, 17, 4], 2, 'valid');
      const f: GradFn = (a, b) =>
        tf.depthwiseConv2d(tf.conv2d(up(a, b), b, 1, 'same'), blur, 1, EXPLICIT as never);
      tf.dispose(gradsOf(f, x, w, 13));
    };
    step();
    const before = tf.memory();
    for (let i = 0; i < 3; i++) step();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    tf.dispose([x, w, blur]);
  });
});

const SLICE_CASES: [string, number[], number[], number[]][] = [
  [
    'rank 6, the gradient of the ToRGB upsampling pad',
    [2, 8, 2, 8, 2, 3],
    [0, 0, 0, 0, 0, 0],
    [2, 8, 1, 8, 1, 3],
  ],
  ['rank 5, inner axis cut', [3, 4, 5, 2, 7], [1, 0, 2, 1, 3], [2, 4, 3, 1, 4]],
  ['rank 4, channels cut', [2, 9, 7, 5], [0, 1, 2, 1], [2, 6, 4, 3]],
  ['rank 3, long rows', [3, 5, 70], [1, 1, 0], [2, 3, 70]],
  ['rank 2, -1 size', [6, 40], [2, 5], [-1, 30]],
  ['rank 1', [50], [7], [20]],
  ['empty', [4, 5], [1, 1], [0, 3]],
];

describe.each(BACKENDS)('on %s, Slice matches tfjs cpu', (backend) => {
  it.each(SLICE_CASES)('%s', async (_name, shape, begin, size) => {
    const x = random(shape, 14);
    const slice = () => tf.slice(x, begin, size);
    const [actual, expected] = [await on(backend, slice), await on(REFERENCE, slice)];
    expect(actual.shape).toEqual(expected.shape);
    expect(Array.from(actual.data)).toEqual(Array.from(expected.data));
    x.dispose();
  });

  it('slices int32 tensors too', async () => {
    await tf.setBackend(backend);
    const x = tf.range(0, 60, 1, 'int32').reshape([3, 4, 5]);
    const y = tf.slice(x, [1, 1, 2], [2, 2, 2]);
    expect(y.dtype).toBe('int32');
    expect(Array.from(await y.data())).toEqual([27, 28, 32, 33, 47, 48, 52, 53]);
    tf.dispose([x, y]);
  });
});
