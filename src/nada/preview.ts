import * as tf from '@tensorflow/tfjs-core';

import type { StyleGan2Generator } from '../models/stylegan2/index.ts';
import type { ImageBatch } from '../images/grid.ts';
import { noiseMaps } from './layer-selection.ts';
import type { RandomSource } from './random.ts';

/** The fixed inputs of every preview grid of a run, drawn once. */
export interface PreviewInputs {
  /** fixed_z: [nSample, styleDim] */
  z: tf.Tensor2D;
  frozenNoise: tf.Tensor4D[];
  trainNoise: tf.Tensor4D[];
  /** each generator's own mean latent (`mean_latent(4096)` at construction): [1, styleDim] */
  frozenMean: tf.Tensor2D;
  trainMean: tf.Tensor2D;
  truncation: number;
}

/**
 * Draws the preview inputs for a run (step 0 of the random source, so a resumed run gets the
 * same ones). Departure: the official sampling pass draws fresh noise every time; fixed noise
 * makes the change between two grids come from training alone.
 */
export function previewInputs(
  frozen: StyleGan2Generator,
  train: StyleGan2Generator,
  random: RandomSource,
  nSample: number,
  means: { frozen: tf.Tensor2D; train: tf.Tensor2D },
  truncation: number,
): PreviewInputs {
  return {
    z: random.normal([nSample, frozen.config.styleDim], 0, 'preview.z') as tf.Tensor2D,
    frozenNoise: noiseMaps(frozen, random, nSample, 0, 'preview.frozen.noise'),
    trainNoise: noiseMaps(train, random, nSample, 0, 'preview.trainable.noise'),
    frozenMean: means.frozen,
    trainMean: means.train,
    truncation,
  };
}

/**
 * The sampling pass of NADA's `train()` (`net([fixed_z], truncation=sample_truncation)` in
 * eval mode): W from the frozen mapping, each generator truncated toward its own mean latent.
 * Returns NHWC images [nSample, size, size, 3].
 */
export function samplePreview(
  frozen: StyleGan2Generator,
  train: StyleGan2Generator,
  p: PreviewInputs,
): { frozen: tf.Tensor4D; train: tf.Tensor4D } {
  return tf.tidy(() => {
    const w = frozen.mapping(p.z);
    const opts = { inputIsLatent: true, truncation: p.truncation };
    const f = frozen.forward([w], {
      ...opts,
      truncationLatent: p.frozenMean,
      noise: p.frozenNoise,
    });
    const t = train.forward([w], { ...opts, truncationLatent: p.trainMean, noise: p.trainNoise });
    tf.dispose([f.latent, t.latent]);
    return { frozen: f.image, train: t.image };
  });
}

/** Frees the preview inputs. */
export function disposePreview(p: PreviewInputs): void {
  tf.dispose([p.z, ...p.frozenNoise, ...p.trainNoise, p.frozenMean, p.trainMean]);
}

/** A tensor batch of images as the grid module takes it. */
export function toImageBatch(images: tf.Tensor4D): ImageBatch {
  const [count, height, width] = images.shape;
  return { data: images.dataSync() as Float32Array, count, height, width };
}
