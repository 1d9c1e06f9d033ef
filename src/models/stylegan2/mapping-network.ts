import * as tf from '@tensorflow/tfjs-core';

const SQRT2 = Math.SQRT2;

/** x · rsqrt(mean(x², channels) + 1e-8) over the last axis. */
export function pixelNorm(x: tf.Tensor2D): tf.Tensor2D {
  const meanSq = tf.mean(tf.square(x), 1, true);
  return tf.mul(x, tf.rsqrt(tf.add(meanSq, 1e-8)));
}

/** leaky_relu(x + bias, 0.2) · √2, bias on the channel (last) axis. */
export function fusedLeakyRelu<T extends tf.Tensor>(x: T, bias: tf.Tensor1D): T {
  return tf.mul(tf.leakyRelu(tf.add(x, bias), 0.2), SQRT2) as T;
}

export interface EqualLinearParams {
  weight: tf.Tensor2D; // [out, in]
  bias: tf.Tensor1D; // [out]
}

/**
 * EqualLinear: x · (W · lrMul/√in)ᵀ + b · lrMul, optionally through the fused leaky ReLU.
 * The scale is applied at run time, as the official code does.
 */
export function equalLinear(
  x: tf.Tensor2D,
  p: EqualLinearParams,
  lrMul = 1,
  activate = false,
): tf.Tensor2D {
  const inDim = p.weight.shape[1];
  const y = tf.mul(tf.matMul(x, p.weight, false, true), lrMul / Math.sqrt(inDim)) as tf.Tensor2D;
  const bias = lrMul === 1 ? p.bias : (tf.mul(p.bias, lrMul) as tf.Tensor1D);
  return activate ? fusedLeakyRelu(y, bias) : tf.add(y, bias);
}

/**
 * The mapping network G.style: PixelNorm, then one EqualLinear + fused leaky ReLU per layer.
 *
 * @example
 * mappingNetwork(z, layers, 0.01); // z [b, 512] → w [b, 512]
 */
export function mappingNetwork(
  z: tf.Tensor2D,
  layers: EqualLinearParams[],
  lrMul: number,
): tf.Tensor2D {
  let x = pixelNorm(z);
  for (const layer of layers) x = equalLinear(x, layer, lrMul, true);
  return x;
}
