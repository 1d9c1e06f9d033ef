import * as tf from '@tensorflow/tfjs-core';

/**
 * upfirdn2d with down = 1 on NHWC images: insert `up − 1` zeros after every pixel, pad
 * (pad0 before, pad1 after, on both axes), then convolve each channel with `kernel` [kh, kw].
 *
 * The official op convolves (it flips the kernel before a cross-correlation); tfjs
 * correlates, so the kernel is flipped here. The FIR kernels of StyleGAN2 are symmetric.
 */
export function upfirdn2d(
  x: tf.Tensor4D,
  kernel: tf.Tensor2D,
  up: number,
  pad: [number, number],
): tf.Tensor4D {
  const [batch, height, width, channels] = x.shape;
  let out = x;
  if (up > 1) {
    // [b, h, 1, w, 1, c] → zeros after each pixel → [b, h·up, w·up, c]
    const spread = tf.reshape(x, [batch, height, 1, width, 1, channels]);
    const padded = tf.pad(spread, [
      [0, 0],
      [0, 0],
      [0, up - 1],
      [0, 0],
      [0, up - 1],
      [0, 0],
    ]);
    out = tf.reshape(padded, [batch, height * up, width * up, channels]);
  }
  return depthwiseFir(out, kernel, pad);
}

/** Per-channel convolution with the (flipped) FIR kernel, zero padding (pad0, pad1) on h and w. */
function depthwiseFir(x: tf.Tensor4D, kernel: tf.Tensor2D, pad: [number, number]): tf.Tensor4D {
  const [kh, kw] = kernel.shape;
  const channels = x.shape[3];
  const flipped = tf.reverse(kernel, [0, 1]);
  // [kh, kw, channels, 1]: the same kernel for every channel
  const filter = tf.tile(tf.reshape(flipped, [kh, kw, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
  // the padding inside the conv: a separate tf.pad is slow on the pure-JS backend
  const padding: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [pad[0], pad[1]],
    [pad[0], pad[1]],
    [0, 0],
  ];
  return tf.depthwiseConv2d(x, filter, 1, padding);
}

/** The 4×4 blur that follows an upsampling conv: upfirdn2d(up = 1, pad). */
export function blur(x: tf.Tensor4D, kernel: tf.Tensor2D, pad: [number, number]): tf.Tensor4D {
  return upfirdn2d(x, kernel, 1, pad);
}

/** The ToRGB skip upsampler: upfirdn2d(up = 2, pad = (2, 1)), kernel already ×4. */
export function upsample2x(x: tf.Tensor4D, kernel: tf.Tensor2D): tf.Tensor4D {
  return upfirdn2d(x, kernel, 2, [2, 1]);
}

/** make_kernel([1, 3, 3, 1]) · factor²: the normalised outer product, as a flat 4×4 array. */
export function firKernel(taps: number[] = [1, 3, 3, 1], factor = 2): Float32Array {
  const n = taps.length;
  const out = new Float32Array(n * n);
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += taps[i] * taps[j];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) out[i * n + j] = ((taps[i] * taps[j]) / sum) * factor * factor;
  }
  return out;
}
