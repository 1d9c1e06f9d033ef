import * as tf from '@tensorflow/tfjs-core';

import { nadaPreprocess } from '../models/clip/index.ts';
import { l2Normalize } from './text-direction.ts';

/** What the losses need from a CLIP model (`ClipModel` fits). */
export interface ImageModel {
  readonly config: { imageResolution: number };
  /** the stored parameter (ln 100); the scale is exp of it */
  readonly logitScale: number;
  encodeImage(images: tf.Tensor4D): tf.Tensor2D;
}

/**
 * One CLIP model in the loss, with its texts encoded once per run (each text side lives in
 * this model's embedding space).
 */
export interface ClipLossTerm {
  name: string;
  /** clip_model_weights: the loss is Σ weight · term */
  weight: number;
  model: ImageModel;
  /** Δt, [1, embed], unit length */
  direction: tf.Tensor2D;
  /** normalised features of the raw target text (layer selection's global loss): [1, embed] */
  targetFeatures: tf.Tensor2D;
  /** normalised features of "a <target>" (the global term of the loss): [1, embed] */
  aTargetFeatures: tf.Tensor2D;
}

/** Loss weights of NADA's CLIPLoss (official defaults 1 and 0). */
export interface ClipLossWeights {
  lambdaDirection: number;
  lambdaGlobal: number;
}

// torch.nn.CosineSimilarity's default eps.
const COSINE_EPS = 1e-8;

/**
 * Generator images (NHWC, about [-1, 1]) → normalised CLIP image features [b, embed].
 * (Official `get_image_features`: preprocess, encode_image, divide by the norm.)
 */
export function imageFeatures(model: ImageModel, images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const x = nadaPreprocess(images, model.config.imageResolution);
    return l2Normalize(model.encodeImage(x));
  });
}

/**
 * cos(x, y) along the last axis as torch computes it:
 * x·y / sqrt(max(|x|²·|y|², eps²)). `y` broadcasts ([1, d] against [b, d]). Returns [b].
 */
export function cosineSimilarity(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(x, y), -1);
    const n2 = tf.mul(tf.sum(tf.square(x), -1), tf.sum(tf.square(y), -1));
    return tf.div(dot, tf.sqrt(tf.maximum(n2, COSINE_EPS * COSINE_EPS))) as tf.Tensor1D;
  });
}

/**
 * Per-sample directional loss 1 − cos(Δi, Δt) with Δi = normalise(f(tgt) − f(src)): [b].
 * If Δi is exactly zero (sum 0, as when the generators still agree bit for bit), the target
 * features are recomputed on tgt + 1e-6, as the official code does.
 */
export function clipDirectionalLossPerSample(
  model: ImageModel,
  direction: tf.Tensor2D,
  srcImg: tf.Tensor4D,
  tgtImg: tf.Tensor4D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const src = imageFeatures(model, srcImg); // [b, embed]
    let edit = tf.sub(imageFeatures(model, tgtImg), src) as tf.Tensor2D;
    if (tf.sum(edit).dataSync()[0] === 0) {
      edit = tf.sub(imageFeatures(model, tf.add(tgtImg, 1e-6)), src) as tf.Tensor2D;
    }
    const e = l2Normalize(edit);
    return tf.sub(1, cosineSimilarity(e, direction)) as tf.Tensor1D;
  });
}

/**
 * NADA's `clip_directional_loss`: mean over the batch of 1 − cos(Δi, Δt).
 *
 * @example
 * clipDirectionalLoss(clip, direction, frozenImg, trainImg).dataSync(); // [1.0021…]
 */
export function clipDirectionalLoss(
  model: ImageModel,
  direction: tf.Tensor2D,
  srcImg: tf.Tensor4D,
  tgtImg: tf.Tensor4D,
): tf.Scalar {
  return tf.tidy(() => tf.mean(clipDirectionalLossPerSample(model, direction, srcImg, tgtImg)));
}

/**
 * NADA's `global_clip_loss`: mean over images × texts of 1 − exp(logit_scale)·cos/100,
 * with `textFeatures` already normalised [n, embed].
 */
export function globalClipLoss(
  model: ImageModel,
  images: tf.Tensor4D,
  textFeatures: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const img = imageFeatures(model, images); // [b, embed]
    const logits = tf.mul(tf.matMul(img, textFeatures, false, true), Math.exp(model.logitScale));
    return tf.mean(tf.sub(1, tf.div(logits, 100))) as tf.Scalar;
  });
}

/**
 * The training loss over every CLIP model: Σ weight · (λd·directional + λg·global("a target")).
 * (Official `CLIPLoss.forward` summed with `clip_model_weights` in ZSSGAN.)
 */
export function nadaClipLoss(
  terms: ClipLossTerm[],
  frozenImg: tf.Tensor4D,
  trainImg: tf.Tensor4D,
  w: ClipLossWeights,
): tf.Scalar {
  return tf.tidy(() => {
    const parts = terms.map((t) => {
      let loss: tf.Scalar = tf.scalar(0);
      if (w.lambdaDirection > 0) {
        const dir = clipDirectionalLoss(t.model, t.direction, frozenImg, trainImg);
        loss = tf.add(loss, tf.mul(w.lambdaDirection, dir));
      }
      if (w.lambdaGlobal > 0) {
        const glob = globalClipLoss(t.model, trainImg, t.aTargetFeatures);
        loss = tf.add(loss, tf.mul(w.lambdaGlobal, glob));
      }
      return tf.mul(t.weight, loss) as tf.Scalar;
    });
    return tf.addN(parts) as tf.Scalar;
  });
}
