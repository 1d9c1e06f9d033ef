import {
  backend_util,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

import type { BackendOps } from './backend-ops.ts';
import { cropSpatial, padForWindows, spreadForBackprop } from './conv-geometry.ts';

type Shape4 = [number, number, number, number];

/**
 * dL/dfilter of a depthwise convolution (NHWC, filter [kH, kW, C, m]) as one depthwise
 * convolution: x becomes a single image whose channels are (c, batch) pairs, dy becomes its
 * filter ([outH, outW, C·batch, m], dilated by the forward stride), and the sum over the batch
 * is taken afterwards. Returns [kH, kW, C, m].
 */
export function depthwiseBackpropFilter(
  ops: BackendOps,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs,
): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [batch, , , channels] = x.shape;
  const [kh, kw, , mult] = attrs.filterShape;
  const { outHeight: oh, outWidth: ow } = info;

  // x: [b, Hp, Wp, C] → [1, Hp, Wp, C·b]
  const padded = padForWindows(ops, x, info);
  const xT = ops.transpose(padded, [1, 2, 3, 0]);
  const xImage = ops.reshape(xT, [1, ...padded.shape.slice(1, 3), channels * batch]);

  // dy: [b, oh, ow, C·m] → [oh, ow, C, b, m] → [oh, ow, C·b, m]
  const dy5 = ops.reshape(dy, [batch, oh, ow, channels, mult]);
  const dyT = ops.transpose(dy5, [1, 2, 3, 0, 4]);
  const dyFilter = ops.reshape(dyT, [oh, ow, channels * batch, mult]);

  // [1, kh(+extra), kw(+extra), C·b·m] → [kh, kw, C, b, m] → sum over b
  const strides: [number, number] = [info.dilationHeight, info.dilationWidth];
  const corr = ops.depthwiseConv2d(xImage, dyFilter, strides, [
    info.strideHeight,
    info.strideWidth,
  ]);
  const cropped = cropSpatial(ops, corr, kh, kw);
  const perBatch = ops.reshape(cropped, [kh, kw, channels, batch, mult]);
  const dw = ops.sum(perBatch, [3]);

  const out = ops.reshape(dw, attrs.filterShape);
  ops.free(padded, xT, xImage, dy5, dyT, dyFilter, cropped, perBatch, dw);
  return out;
}

/**
 * dL/dx of a depthwise convolution as a depthwise convolution of dy, spread onto the input
 * grid, with the spatially flipped filter; a channel multiplier m > 1 is summed afterwards.
 * Returns [batch, H, W, C].
 */
export function depthwiseBackpropInput(
  ops: BackendOps,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: DepthwiseConv2dNativeBackpropInputAttrs,
): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [kh, kw, channels, mult] = filter.shape;

  // Filter flipped in space, one output channel per (c, m) pair: [kh, kw, C·m, 1].
  const flipped = ops.reverse(filter, [0, 1]);
  const flat = ops.reshape(flipped, [kh, kw, channels * mult, 1]);
  const source = spreadForBackprop(ops, dy, info);
  const dilations: [number, number] = [info.dilationHeight, info.dilationWidth];
  const dxAll = ops.depthwiseConv2d(source.x, flat, [1, 1], dilations, source.pad);
  ops.free(flipped, flat);
  if (source.owned) ops.free(source.x);
  if (mult === 1) return dxAll;

  // [b, H, W, C·m] → [b, H, W, C, m] → sum over m
  const [batch, h, w] = attrs.inputShape;
  const split = ops.reshape(dxAll, [batch, h, w, channels, mult]);
  const dx = ops.sum(split, [4]);
  ops.free(dxAll, split);
  return dx;
}
