import * as tf from '@tensorflow/tfjs-core';

// Functional tf.* calls throughout: chained tensor methods need an extra side-effect import.

/** A dense layer as PyTorch stores it: weight [out, in], bias [out]. */
export interface Linear {
  weight: tf.Tensor2D;
  bias?: tf.Tensor1D;
}

export interface LayerNormWeights {
  weight: tf.Tensor1D;
  bias: tf.Tensor1D;
}

/** x·Wᵀ + b over the last axis: [..., in] → [..., out]. */
export function linear(x: tf.Tensor, layer: Linear): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const flat = tf.reshape(x, [-1, inDim]) as tf.Tensor2D; // [n, in]
  let y: tf.Tensor = tf.matMul(flat, layer.weight, false, true); // [n, out]
  if (layer.bias) y = tf.add(y, layer.bias);
  return tf.reshape(y, [...lead, layer.weight.shape[0]]);
}

/** LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor, ln: LayerNormWeights, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, ln.weight), ln.bias);
}

/** The exact (erf) GELU used by BERT, XLM-R and DistilBERT: x·½(1 + erf(x/√2)). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)), 0.5);
}

/** The additive attention bias: 0 where a key is a real token, a huge negative where padded. */
export function keyMaskBias(attentionMask: tf.Tensor2D): tf.Tensor4D {
  const [b, l] = attentionMask.shape;
  // HF adds the float32 minimum; any value this large makes exp() exactly 0 after softmax.
  const bias = tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -1e30);
  return tf.reshape(bias, [b, 1, 1, l]); // [batch, 1, 1, keys]
}

export interface AttentionWeights {
  query: Linear;
  key: Linear;
  value: Linear;
  output: Linear;
}

/** Multi-head self-attention: x [b, L, d] → [b, L, d]; `maskBias` is [b, 1, 1, L]. */
export function selfAttention(
  x: tf.Tensor3D,
  w: AttentionWeights,
  heads: number,
  maskBias: tf.Tensor4D,
): tf.Tensor3D {
  const [b, l, d] = x.shape;
  const dh = d / heads;
  const split = (t: tf.Tensor) =>
    tf.transpose(tf.reshape(t, [b, l, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D; // [b, h, L, dh]
  const q = split(linear(x, w.query));
  const k = split(linear(x, w.key));
  const v = split(linear(x, w.value));
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)); // [b, h, L, L]
  const probs = tf.softmax(tf.add(scores, maskBias)) as tf.Tensor4D;
  const ctx = tf.matMul(probs, v); // [b, h, L, dh]
  const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b, l, d]);
  return linear(merged, w.output) as tf.Tensor3D;
}

/** Mean of the hidden states over positions whose mask is 1: [b, L, d] → [b, d]. */
export function maskedMeanPool(hidden: tf.Tensor3D, attentionMask: tf.Tensor2D): tf.Tensor2D {
  const m = tf.expandDims(tf.cast(attentionMask, 'float32'), 2); // [b, L, 1]
  const sum = tf.sum(tf.mul(hidden, m), 1); // [b, d]
  return tf.div(sum, tf.sum(m, 1)) as tf.Tensor2D; // count is [b, 1]
}
