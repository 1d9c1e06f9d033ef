import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';

import type { BackendOps } from './backend-ops.ts';
import { padForConv } from './conv-geometry.ts';

type ConvInfo = backend_util.Conv2DInfo;

/** Where one spatial axis of a strided transposed convolution splits into phases. */
interface AxisPlan {
  stride: number;
  /** taps per phase: ceil(k / stride) */
  taps: number;
  /** first phase-grid index q (output i = q·stride + phase − pad) */
  q0: number;
  /** phase-grid length */
  count: number;
  /** dy padding [front, back] (negative crops) for a 'valid' correlation over q0…q0+count−1 */
  dyPad: [number, number];
  /** where output row 0 sits on the interleaved grid */
  offset: number;
}

function axisPlan(stride: number, k: number, pad: number, outLen: number, dyLen: number): AxisPlan {
  const taps = Math.ceil(k / stride);
  const q0 = Math.floor(pad / stride);
  const q1 = Math.floor((outLen - 1 + pad) / stride);
  return {
    stride,
    taps,
    q0,
    count: q1 - q0 + 1,
    dyPad: [taps - 1 - q0, q1 - (dyLen - 1)],
    offset: pad - q0 * stride,
  };
}

/**
 * The filter of all phases as one stride-1 filter: [tapsH, tapsW, outC, sH·sW·inC], where
 * phase (rh, rw) output channel c at tap (u, v) holds w[rh + sH·(tapsH−1−u), rw + sW·(tapsW−1−v), c]
 * (zero past the kernel's end): each phase is a flipped, decimated copy of the kernel.
 */
function phaseFilter(ops: BackendOps, filter: TensorInfo, h: AxisPlan, w: AxisPlan): TensorInfo {
  const [kh, kw, inC, outC] = filter.shape;
  const padded = ops.pad(filter, [
    [0, h.taps * h.stride - kh],
    [0, w.taps * w.stride - kw],
    [0, 0],
    [0, 0],
  ]);
  // [tapsH, sH, tapsW, sW, inC, outC], flipped along the tap axes
  const split = ops.reshape(padded, [h.taps, h.stride, w.taps, w.stride, inC, outC]);
  const flipped = ops.reverse(split, [0, 2]);
  const moved = ops.transpose(flipped, [0, 2, 5, 1, 3, 4]);
  const out = ops.reshape(moved, [h.taps, w.taps, outC, h.stride * w.stride * inC]);
  ops.free(padded, split, flipped, moved);
  return out;
}

/**
 * dL/dx of a strided 2-D convolution (the forward pass of a strided transposed convolution)
 * without multiplying zeros: output rows of one phase (i + pad ≡ r mod stride) see only taps
 * r, r + stride, …, so all sH·sW phases are one stride-1 convolution of dy with the phase
 * filters side by side in the output channels, then interleaved and cropped. For a 3×3
 * kernel at stride 2 this is 16 multiply-adds per output pixel and channel pair instead of 36.
 * `dy` is NHWC; returns [batch, inH, inW, inC].
 */
export function conv2dBackpropInputByPhases(
  ops: BackendOps,
  dy: TensorInfo,
  filter: TensorInfo,
  info: ConvInfo,
): TensorInfo {
  const { padInfo, batchSize, inHeight, inWidth, inChannels } = info;
  const h = axisPlan(info.strideHeight, info.filterHeight, padInfo.top, inHeight, info.outHeight);
  const w = axisPlan(info.strideWidth, info.filterWidth, padInfo.left, inWidth, info.outWidth);

  // One correlation for every phase: [b, countH, countW, sH·sW·inC].
  const phases = phaseFilter(ops, filter, h, w);
  const source = padForConv(ops, dy, h.dyPad, w.dyPad);
  const y = ops.conv2d(source.x, phases, [1, 1], [1, 1], source.pad);
  if (source.owned) ops.free(source.x);

  // Interleave: [b, qh, qw, rh, rw, c] → [b, qh, rh, qw, rw, c] → [b, qh·sH, qw·sW, c].
  const y6 = ops.reshape(y, [batchSize, h.count, w.count, h.stride, w.stride, inChannels]);
  const woven = ops.transpose(y6, [0, 1, 3, 2, 4, 5]);
  const grid = ops.reshape(woven, [batchSize, h.count * h.stride, w.count * w.stride, inChannels]);
  const dx = ops.slice(
    grid,
    [0, h.offset, w.offset, 0],
    [batchSize, inHeight, inWidth, inChannels],
  );

  ops.free(phases, y, y6, woven, grid);
  return dx;
}
