import * as tf from '@tensorflow/tfjs-core';

import { addNoise } from './channel-ops.ts';
import { equalLinear, fusedLeakyRelu } from './mapping-network.ts';
import { modulatedConv } from './modulated-conv.ts';
import { upsample2x } from './upfirdn.ts';

/** Looks a tensor up by its state-dict name. */
export type ParamLookup = (name: string) => tf.Tensor;

/** Observers for per-layer outputs (the official code's forward hooks). */
export interface SynthesisHooks {
  /** the modulation EqualLinear's output of a module: [b, in] */
  onStyle?: (module: string, style: tf.Tensor2D) => void;
  /** a module's output: StyledConv [b, r, r, C], ToRGB (skip included) [b, r, r, 3] */
  onActivation?: (module: string, out: tf.Tensor4D) => void;
}

/** The modulation EqualLinear (bias init 1, lr_mul 1): w [b, styleDim] → style [b, in]. */
function modulation(p: ParamLookup, m: string, w: tf.Tensor2D, hooks?: SynthesisHooks) {
  const style = equalLinear(w, {
    weight: p(`${m}.conv.modulation.weight`) as tf.Tensor2D,
    bias: p(`${m}.conv.modulation.bias`) as tf.Tensor1D,
  });
  hooks?.onStyle?.(m, style);
  return style;
}

/**
 * StyledConv: modulated conv (optionally upsampling), noise injection, fused leaky ReLU.
 *
 * @param x     [b, r, r, in]
 * @param noise [b or 1, r', r', 1] at the output resolution r'
 */
export function styledConv(
  p: ParamLookup,
  m: string,
  x: tf.Tensor4D,
  w: tf.Tensor2D,
  noise: tf.Tensor4D,
  upsample: boolean,
  hooks?: SynthesisHooks,
): tf.Tensor4D {
  const style = modulation(p, m, w, hooks);
  let out = modulatedConv(x, style, p(`${m}.conv.weight`), {
    demodulate: true,
    upsample,
    blurKernel: upsample ? (p(`${m}.conv.blur.kernel`) as tf.Tensor2D) : undefined,
  });
  // NoiseInjection: image + strength · noise, one noise channel broadcast over all
  out = addNoise(out, noise, p(`${m}.noise.weight`));
  out = fusedLeakyRelu(out, p(`${m}.activate.bias`) as tf.Tensor1D);
  hooks?.onActivation?.(m, out);
  return out;
}

/**
 * ToRGB: 1×1 modulated conv without demodulation, plus bias, plus the upsampled skip.
 *
 * @param x    [b, r, r, in]
 * @param skip [b, r/2, r/2, 3] or null for to_rgb1
 */
export function toRgb(
  p: ParamLookup,
  m: string,
  x: tf.Tensor4D,
  w: tf.Tensor2D,
  skip: tf.Tensor4D | null,
  hooks?: SynthesisHooks,
): tf.Tensor4D {
  const style = modulation(p, m, w, hooks);
  let out = modulatedConv(x, style, p(`${m}.conv.weight`), { demodulate: false, upsample: false });
  out = tf.add(out, tf.reshape(p(`${m}.bias`), [3]));
  if (skip) out = tf.add(out, upsample2x(skip, p(`${m}.upsample.kernel`) as tf.Tensor2D));
  hooks?.onActivation?.(m, out);
  return out;
}
