import * as tf from '@tensorflow/tfjs-core';

import { scaleChannels } from './channel-ops.ts';
import { blur } from './upfirdn.ts';

const DEMOD_EPS = 1e-8;

export interface ModulatedConvOptions {
  demodulate: boolean;
  /** modulated transposed conv (stride 2) followed by the FIR blur */
  upsample: boolean;
  /** the blur kernel buffer [4, 4] (already ×4); only for upsampling convs */
  blurKernel?: tf.Tensor2D;
}

/**
 * ModulatedConv2d on NHWC input.
 *
 * Departure from the official code (same numbers): tfjs has no grouped convolution, so instead
 * of building one weight per sample, the input channels are scaled by the style, one conv with
 * the shared weight runs, and the output channels are scaled by the demodulation factor
 * rsqrt(Σ (scale·W·s)² + 1e-8).
 *
 * @param x      [b, h, w, in]
 * @param style  [b, in], the modulation EqualLinear's output
 * @param weight [1, out, in, k, k], the stored parameter
 * @returns      [b, h, w, out], or [b, 2h, 2w, out] when upsampling
 */
export function modulatedConv(
  x: tf.Tensor4D,
  style: tf.Tensor2D,
  weight: tf.Tensor,
  opts: ModulatedConvOptions,
): tf.Tensor4D {
  const [, outCh, inCh, k] = weight.shape;
  const [batch, height, width] = x.shape;
  const scale = 1 / Math.sqrt(inCh * k * k);
  const w = tf.mul(tf.reshape(weight, [outCh, inCh, k, k]), scale) as tf.Tensor4D;

  // modulate: scale the input channels by the style
  const xs = scaleChannels(x, style);

  let y: tf.Tensor4D;
  if (opts.upsample) {
    // conv_transpose2d(stride 2, padding 0): tfjs filter [k, k, out, in]
    const filter = tf.transpose(w, [2, 3, 0, 1]) as tf.Tensor4D;
    const outShape: [number, number, number, number] = [
      batch,
      2 * height + k - 2,
      2 * width + k - 2,
      outCh,
    ];
    y = tf.conv2dTranspose(xs, filter, outShape, 2, 'valid');
  } else {
    // conv2d with padding k // 2 (odd k, stride 1: 'same'): tfjs filter [k, k, in, out]
    const filter = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
    y = tf.conv2d(xs, filter, 1, 'same');
  }

  if (opts.demodulate) {
    // demod[b, o] = rsqrt(Σ_i s[b,i]² · Σ_kk w[o,i,kk]² + eps)
    const wSq = tf.sum(tf.square(w), [2, 3]) as tf.Tensor2D; // [out, in]
    const energy = tf.matMul(tf.square(style), wSq, false, true); // [b, out]
    const demod = tf.rsqrt(tf.add(energy, DEMOD_EPS));
    y = scaleChannels(y, demod as tf.Tensor2D);
  }

  if (opts.upsample) {
    if (!opts.blurKernel) throw new Error('an upsampling modulated conv needs its blur kernel');
    // official pad for k = 3, factor 2, 4-tap kernel: (1, 1)
    const p = 4 - 2 - (k - 1);
    y = blur(y, opts.blurKernel, [((p + 1) >> 1) + 1, (p >> 1) + 1]);
  }
  return y;
}
