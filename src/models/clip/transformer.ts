import * as tf from '@tensorflow/tfjs-core';

/**
 * The residual attention blocks shared by CLIP's image and text towers (OpenAI
 * `clip/model.py` ResidualAttentionBlock), in tfjs. Weights are stored pre-transposed so
 * every linear layer is one `x · W + b`.
 */

/** One pre-LN block; matrices are [in, out] (PyTorch's `weight` transposed). */
export interface BlockWeights {
  ln1: LayerNormWeights;
  // in_proj_weight [3w, w] split into its q, k, v row blocks, each transposed to [w, w]
  qW: tf.Tensor2D;
  kW: tf.Tensor2D;
  vW: tf.Tensor2D;
  qB: tf.Tensor1D; // [w]
  kB: tf.Tensor1D;
  vB: tf.Tensor1D;
  outW: tf.Tensor2D; // [w, w]
  outB: tf.Tensor1D;
  ln2: LayerNormWeights;
  fcW: tf.Tensor2D; // [w, 4w]
  fcB: tf.Tensor1D;
  projW: tf.Tensor2D; // [4w, w]
  projB: tf.Tensor1D;
}

export interface LayerNormWeights {
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

/** CLIP's LayerNorm epsilon (PyTorch's default). */
const LN_EPS = 1e-5;

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm<T extends tf.Tensor>(x: T, ln: LayerNormWeights): T {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS)));
    return tf.add(tf.mul(normed, ln.gamma), ln.beta) as T;
  });
}

/** `x · W + b` on the last axis of a [b, n, in] tensor. */
function linear(x: tf.Tensor3D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  const [batch, n, width] = x.shape;
  const y = tf.add(tf.matMul(tf.reshape(x, [batch * n, width]), w), b);
  return tf.reshape(y, [batch, n, w.shape[1]]);
}

/** QuickGELU: x · sigmoid(1.702 x), the activation OpenAI trained CLIP with. */
export function quickGelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as T;
}

/**
 * Multi-head self-attention as torch.nn.MultiheadAttention computes it: the query is
 * scaled by 1/√d before QKᵀ; `mask` [n, n] is added to the scores (−∞ hides a key).
 */
function selfAttention(
  x: tf.Tensor3D, // [b, n, w]
  blk: BlockWeights,
  heads: number,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  const [b, n, w] = x.shape;
  const d = w / heads;
  // three products rather than one split: the cpu backend's split is slow
  const project = (w: tf.Tensor2D, bias: tf.Tensor1D) =>
    tf.transpose(tf.reshape(linear(x, w, bias), [b, n, heads, d]), [0, 2, 1, 3]);
  const q = project(blk.qW, blk.qB); // [b, h, n, d]
  const k = project(blk.kW, blk.kB);
  const v = project(blk.vW, blk.vB);

  let scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(d)), k, false, true); // [b, h, n, n]
  if (mask) scores = tf.add(scores, mask);
  const ctx = tf.matMul(tf.softmax(scores), v); // [b, h, n, d]
  const merged = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [b, n, w]) as tf.Tensor3D;
  return linear(merged, blk.outW, blk.outB);
}

/** x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
export function residualBlock(
  x: tf.Tensor3D,
  blk: BlockWeights,
  heads: number,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  return tf.tidy(() => {
    const h = tf.add(x, selfAttention(layerNorm(x, blk.ln1), blk, heads, mask)) as tf.Tensor3D;
    const hidden = quickGelu(linear(layerNorm(h, blk.ln2), blk.fcW, blk.fcB)); // [b, n, 4w]
    return tf.add(h, linear(hidden, blk.projW, blk.projB)) as tf.Tensor3D;
  });
}

/** Causal mask [n, n]: 0 on and below the diagonal, −∞ above (OpenAI's build_attention_mask). */
export function causalMask(n: number): tf.Tensor2D {
  const data = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) data[i * n + j] = -Infinity;
  }
  return tf.tensor2d(data, [n, n]);
}
