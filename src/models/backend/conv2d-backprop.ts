import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import type { BackendOps } from './backend-ops.ts';
import { cropSpatial, padForWindows, spreadForBackprop } from './conv-geometry.ts';
import { conv2dBackpropInputByPhases } from './conv2d-transpose.ts';

type Shape4 = [number, number, number, number];
const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

/** x and dy of a Conv2DBackpropFilter call in NHWC, with the forward geometry. */
function filterProblem(
  ops: BackendOps,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
) {
  const nchw = attrs.dataFormat === 'NCHW';
  const xs = nchw ? ops.transpose(x, TO_NHWC) : x;
  const dys = nchw ? ops.transpose(dy, TO_NHWC) : dy;
  const info = backend_util.computeConv2DInfo(
    xs.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const release = () => (nchw ? ops.free(xs, dys) : undefined);
  return { xs, dys, info, release };
}

/**
 * dL/dfilter of a 2-D convolution as one forward convolution: with the channels of x
 * as the batch and its batch as the channels, correlating x ([inC, H, W, batch]) with dy as
 * the filter ([outH, outW, batch, outC], dilated by the forward stride) sums over batch and
 * output positions and leaves [inC, kH, kW, outC]. Returns [kH, kW, inC, outC].
 */
export function conv2dBackpropFilter(
  ops: BackendOps,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
): TensorInfo {
  const { xs, dys, info, release } = filterProblem(ops, x, dy, attrs);

  // [b, Hp, Wp, inC] → [inC, Hp, Wp, b]; [b, oh, ow, outC] → [oh, ow, b, outC]
  const padded = padForWindows(ops, xs, info);
  const xT = ops.transpose(padded, [3, 1, 2, 0]);
  const dyT = ops.transpose(dys, [1, 2, 0, 3]);
  const strides: [number, number] = [info.dilationHeight, info.dilationWidth];
  const corr = ops.conv2d(xT, dyT, strides, [info.strideHeight, info.strideWidth]);

  // [inC, kh(+extra), kw(+extra), outC] → [kh, kw, inC, outC]
  const dwT = cropSpatial(ops, corr, info.filterHeight, info.filterWidth);
  const dw = ops.transpose(dwT, [1, 2, 0, 3]);
  ops.free(padded, xT, dyT, dwT);
  release();
  return dw;
}

/**
 * dL/dx of a 2-D convolution (also the forward pass of a transposed convolution) as forward
 * convolutions: at stride 1, dy padded and correlated with the filter flipped in space and
 * transposed to [kH, kW, outC, inC]; strided, one convolution for all output phases.
 */
export function conv2dBackpropInput(
  ops: BackendOps,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo {
  const nchw = attrs.dataFormat === 'NCHW';
  const dys = nchw ? ops.transpose(dy, TO_NHWC) : dy;
  const [b, c, h, w] = attrs.inputShape;
  const inShape: Shape4 = nchw ? [b, h, w, c] : attrs.inputShape;
  const info = backend_util.computeConv2DInfo(
    inShape,
    filter.shape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );

  const dx =
    info.strideHeight > 1 || info.strideWidth > 1
      ? conv2dBackpropInputByPhases(ops, dys, filter, info)
      : correlateFlipped(ops, dys, filter, info);
  if (!nchw) return dx;
  ops.free(dys);
  const dxNchw = ops.transpose(dx, TO_NCHW);
  ops.free(dx);
  return dxNchw;
}

/** Stride-1 dL/dx: dy padded for a full correlation with the flipped, transposed filter. */
function correlateFlipped(
  ops: BackendOps,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  // [kh, kw, inC, outC] → [kh, kw, outC, inC], reversed in both spatial axes.
  const flipped = ops.reverse(filter, [0, 1]);
  const flippedT = ops.transpose(flipped, [0, 1, 3, 2]);
  const source = spreadForBackprop(ops, dy, info);
  const dx = ops.conv2d(source.x, flippedT, [1, 1], [1, 1], source.pad);
  ops.free(flipped, flippedT);
  if (source.owned) ops.free(source.x);
  return dx;
}
