import * as tf from '@tensorflow/tfjs-core';

import { noiseResolution, type StyleGan2Generator } from '../models/stylegan2/index.ts';
import { globalClipLoss, type ClipLossTerm } from './clip-loss.ts';
import type { RandomSource } from './random.ts';

/** Settings of NADA's adaptive layer selection (official names). */
export interface LayerSelectionOptions {
  /** how many W+ rows (layers) to train per step; official default 1, README 18 at 1024 px */
  autoLayerK: number;
  /** SGD steps on W+ before ranking; 0 turns selection off (the fixed trainable set) */
  autoLayerIters: number;
  /** latents drawn for the ranking; official default 8 */
  autoLayerBatch: number;
}

export interface LayerSelection {
  /** chosen modules, most moved row first */
  layers: string[];
  /** chosen W+ rows, as torch.topk returns them */
  chosenIdx: number[];
  /** mean |ΔW+| per row: [nLatent] */
  layerWeights: number[];
  /** global loss of the last SGD step, summed over CLIP models */
  globalLoss: number;
}

// The SGD learning rate on W+ in `determine_opt_layers`.
const W_LR = 0.01;

/**
 * The module NADA trains for a chosen W+ row: 0 → conv1, 1 → to_rgb1, r ≥ 2 → convs[r − 2].
 * This is not how rows feed the generator (row 2 feeds convs[1], for one), but it is what the
 * official code does, so it is kept.
 */
export function rowToLayer(row: number): string {
  if (row === 0) return 'conv1';
  if (row === 1) return 'to_rgb1';
  return `convs.${row - 2}`;
}

/**
 * The fixed trainable set of `auto_layer_iters 0` (phase None): the constant input, conv1 and
 * every conv; never the ToRGB layers or the mapping network.
 */
export function allTrainableLayers(g: StyleGan2Generator): string[] {
  const convs = Array.from({ length: g.numLayers - 1 }, (_, i) => `convs.${i}`);
  return ['input', 'conv1', ...convs];
}

/** Parameter names of chosen modules ('input' is the constant input tensor). */
export function layerParams(g: StyleGan2Generator, layers: string[]): string[] {
  return layers.flatMap((m) => (m === 'input' ? ['input.input'] : g.moduleParams(m)));
}

/**
 * Σ weight · global CLIP loss of the generator's images for W+ toward the raw target text.
 * The objective of layer selection. (The training generator, explicit noise.)
 */
export function globalLossOnWPlus(
  g: StyleGan2Generator,
  terms: ClipLossTerm[],
  wPlus: tf.Tensor3D,
  noise: tf.Tensor4D[],
): tf.Scalar {
  return tf.tidy(() => {
    const img = g.synthesis(wPlus, noise);
    const parts = terms.map((t) =>
      tf.mul(t.weight, globalClipLoss(t.model, img, t.targetFeatures)),
    );
    return tf.addN(parts) as tf.Scalar;
  });
}

/** layer_weights = mean over batch and channels of |W+_after − W+_initial|: [nLatent]. */
export function layerWeightsOf(wInit: tf.Tensor3D, wAfter: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.mean(tf.abs(tf.sub(wAfter, wInit)), -1), 0) as tf.Tensor1D);
}

/**
 * NADA's `determine_opt_layers` for one training step: draw latents, map them with the frozen
 * generator, take `autoLayerIters` plain SGD steps (lr 0.01) on W+ against the global CLIP
 * loss through the training generator, and rank rows by how far they moved.
 * Departure: the initial W+ is a real copy (the official CPU path aliases it, see the golden
 * README), which is what the official code does on GPU.
 */
export function determineOptLayers(
  frozen: StyleGan2Generator,
  train: StyleGan2Generator,
  terms: ClipLossTerm[],
  random: RandomSource,
  step: number,
  opts: LayerSelectionOptions,
): LayerSelection {
  // Step 1: latents → W, repeated to W+ rows (the starting point, kept).
  const wInit = tf.tidy(() => {
    const z = random.normal([opts.autoLayerBatch, train.config.styleDim], step, 'layersel.z');
    const w = frozen.mapping(z as tf.Tensor2D); // [b, styleDim]
    return tf.tile(tf.expandDims(w, 1), [1, train.nLatent, 1]) as tf.Tensor3D;
  });

  // Step 2: SGD on W+ against the global loss toward the target text.
  let w = tf.clone(wInit);
  let globalLoss = NaN;
  for (let i = 0; i < opts.autoLayerIters; i++) {
    const noise = noiseMaps(train, random, opts.autoLayerBatch, step, `layersel.${i}.noise`);
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
      globalLossOnWPlus(train, terms, x as tf.Tensor3D, noise),
    )(w);
    globalLoss = value.dataSync()[0];
    const next = tf.tidy(() => tf.sub(w, tf.mul(grad, W_LR)) as tf.Tensor3D);
    tf.dispose([value, grad, w, ...noise]);
    w = next;
  }

  // Step 3: rank rows by mean |ΔW+|; the top k are trained.
  const weightsT = layerWeightsOf(wInit, w);
  const layerWeights = Array.from(weightsT.dataSync());
  const k = Math.min(opts.autoLayerK, train.nLatent);
  const { indices, values } = tf.topk(weightsT, k);
  const chosenIdx = Array.from(indices.dataSync());
  tf.dispose([wInit, w, weightsT, indices, values]);
  return { layers: chosenIdx.map(rowToLayer), chosenIdx, layerWeights, globalLoss };
}

/** One NHWC noise map per generator layer, drawn for (step, `<purpose>.<k>`). */
export function noiseMaps(
  g: StyleGan2Generator,
  random: RandomSource,
  batch: number,
  step: number,
  purpose: string,
): tf.Tensor4D[] {
  return Array.from({ length: g.numLayers }, (_, k) => {
    const r = noiseResolution(k); // 4, 8, 8, 16, 16, …
    return random.normal([batch, r, r, 1], step, `${purpose}.${k}`) as tf.Tensor4D;
  });
}
