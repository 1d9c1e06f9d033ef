import * as tf from '@tensorflow/tfjs-core';

// tfjs's pure-JS backend broadcasts fast only when the smaller operand's shape is a suffix of
// the result's ([C] against [b, h, w, C]); [b, 1, 1, C] or [b, h, w, 1] take an index-by-index
// path about 20× slower (a leading 1, as in [1, h, w, C], counts as broadcasting too).
// These helpers give the same numbers through the fast shapes.

/** x [b, h, w, C] scaled per sample and channel by s [b, C]. */
export function scaleChannels(x: tf.Tensor4D, s: tf.Tensor2D): tf.Tensor4D {
  const [batch, , , channels] = x.shape;
  if (batch === 1) return tf.mul(x, tf.reshape(s, [channels]));
  const rows = tf.unstack(s) as tf.Tensor1D[]; // b × [C]
  const samples = tf.unstack(x) as tf.Tensor3D[]; // b × [h, w, C]
  return tf.stack(samples.map((xi, i) => tf.mul(xi, rows[i]))) as tf.Tensor4D;
}

/**
 * NoiseInjection: x + strength · noise, one noise channel [b or 1, h, w, 1] for all C channels.
 * The spread over channels is an outer product (K = 1 matMul): each element is one exact product.
 */
export function addNoise(x: tf.Tensor4D, noise: tf.Tensor4D, strength: tf.Tensor): tf.Tensor4D {
  const [, height, width, channels] = x.shape;
  const n = noise.shape[0];
  const column = tf.reshape(noise, [n * height * width, 1]);
  const row = tf.mul(tf.reshape(strength, [1, 1]), tf.ones([1, channels])) as tf.Tensor2D;
  const product = tf.matMul(column, row);
  // one shared map: [h, w, C], a suffix of x's shape (the fast broadcast)
  const shape = n === 1 ? [height, width, channels] : [n, height, width, channels];
  return tf.add(x, tf.reshape(product, shape));
}
