import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';

import type { BackendOps } from './backend-ops.ts';

type ConvInfo = backend_util.Conv2DInfo;

/**
 * x padded as the forward convolution pads it, with rows and columns added at the end where
 * 'valid' or floor rounding would leave a window short. NHWC in and out; the result may be
 * larger than the windows need, never smaller.
 */
export function padForWindows(ops: BackendOps, x: TensorInfo, info: ConvInfo): TensorInfo {
  const { padInfo } = info;
  const [, inH, inW] = x.shape;
  const needH =
    (info.outHeight - 1) * info.strideHeight + (info.filterHeight - 1) * info.dilationHeight + 1;
  const needW =
    (info.outWidth - 1) * info.strideWidth + (info.filterWidth - 1) * info.dilationWidth + 1;
  return ops.pad(x, [
    [0, 0],
    [padInfo.top, Math.max(0, needH - inH - padInfo.top)],
    [padInfo.left, Math.max(0, needW - inW - padInfo.left)],
    [0, 0],
  ]);
}

/** Keeps the first `rows` × `cols` of axes 1 and 2; frees `x` when it crops. */
export function cropSpatial(
  ops: BackendOps,
  x: TensorInfo,
  rows: number,
  cols: number,
): TensorInfo {
  const [a, h, w, ...rest] = x.shape;
  if (h === rows && w === cols) return x;
  const cropped = ops.slice(x, [0, 0, 0, ...rest.map(() => 0)], [a, rows, cols, ...rest]);
  ops.free(x);
  return cropped;
}

/** Explicit NHWC padding as tfjs's convolutions take it, or none. */
export type ConvPad = 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * An NHWC tensor to correlate, with the padding to give the convolution: the padding itself
 * when no amount is negative (the convolution pads without a copy), else padded and cropped
 * here with 'valid'. `owned` says whether `x` is a new tensor the caller must free.
 */
export interface PaddedSource {
  x: TensorInfo;
  pad: ConvPad;
  owned: boolean;
}

/** `x` with rows and columns padded (negative amounts crop) for a convolution. */
export function padForConv(
  ops: BackendOps,
  x: TensorInfo,
  rows: [number, number],
  cols: [number, number],
): PaddedSource {
  if (Math.min(...rows, ...cols) >= 0) {
    return { x, pad: [[0, 0], rows, cols, [0, 0]], owned: false };
  }
  return { x: padOrCrop(ops, x, rows, cols), pad: 'valid', owned: true };
}

/**
 * The output gradient spread back onto the input grid, ready for a stride-1 correlation with
 * the spatially flipped filter at the forward dilation: zeros between rows and columns for
 * stride s, and the padding (or cropping) that makes the correlation yield exactly
 * [batch, inH, inW, ·]. `dy` is NHWC [batch, outH, outW, C].
 */
export function spreadForBackprop(ops: BackendOps, dy: TensorInfo, info: ConvInfo): PaddedSource {
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const [batch, oh, ow, channels] = dy.shape;

  // Interleave zeros: [b, oh, ow, c] → [b, oh·sh, ow·sw, c] with dy at rows o·sh.
  let spread = dy;
  if (sh > 1 || sw > 1) {
    const split = ops.reshape(dy, [batch, oh, 1, ow, 1, channels]);
    const zeros = ops.pad(split, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    spread = ops.reshape(zeros, [batch, oh * sh, ow * sw, channels]);
    ops.free(split, zeros);
  }

  // Full correlation: front pad (k−1)·d − padTop, back pad up to inH + (k−1)·d.
  const effH = (info.filterHeight - 1) * info.dilationHeight;
  const effW = (info.filterWidth - 1) * info.dilationWidth;
  const top = effH - padInfo.top;
  const left = effW - padInfo.left;
  const bottom = info.inHeight + effH - top - oh * sh;
  const right = info.inWidth + effW - left - ow * sw;
  const source = padForConv(ops, spread, [top, bottom], [left, right]);
  if (source.x === spread) return { ...source, owned: spread !== dy };
  if (spread !== dy) ops.free(spread);
  return source;
}

/** Pads rows/columns of an NHWC tensor; negative amounts crop. Returns a new tensor. */
export function padOrCrop(
  ops: BackendOps,
  x: TensorInfo,
  rows: number[],
  cols: number[],
): TensorInfo {
  const pos = (v: number) => Math.max(0, v);
  const padded = ops.pad(x, [
    [0, 0],
    [pos(rows[0]), pos(rows[1])],
    [pos(cols[0]), pos(cols[1])],
    [0, 0],
  ]);
  const cropTop = pos(-rows[0]);
  const cropLeft = pos(-cols[0]);
  const [b, h, w, c] = padded.shape;
  const size = [b, h - cropTop - pos(-rows[1]), w - cropLeft - pos(-cols[1]), c];
  if (size[1] === h && size[2] === w) return padded;
  const cropped = ops.slice(padded, [0, cropTop, cropLeft, 0], size);
  ops.free(padded);
  return cropped;
}
