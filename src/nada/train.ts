import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import type { StyleGan2Generator } from '../models/stylegan2/index.ts';
import type { Adam } from './adam.ts';
import { nadaClipLoss, type ClipLossTerm, type ClipLossWeights } from './clip-loss.ts';
import {
  allTrainableLayers,
  determineOptLayers,
  layerParams,
  noiseMaps,
  type LayerSelection,
  type LayerSelectionOptions,
} from './layer-selection.ts';
import type { RandomSource } from './random.ts';

/** Options of one NADA training step (official names). */
export interface StepOptions extends LayerSelectionOptions, ClipLossWeights {
  batch: number;
  /** train the fixed set (input, conv1, all convs) every step instead of selecting layers */
  trainAllLayers: boolean;
}

/** Everything a training step works on; built once per run. */
export interface Trainer {
  frozen: StyleGan2Generator;
  train: StyleGan2Generator;
  terms: ClipLossTerm[];
  adam: Adam;
  random: RandomSource;
  options: StepOptions;
}

export interface StepResult {
  loss: number;
  /** modules trained in this step */
  layers: string[];
  selection?: LayerSelection;
}

/**
 * Intermediate tensors a caller may ask for (tests compare them with the goldens): frozen and
 * trained images and the gradients that reached Adam. Kept tensors belong to the caller.
 */
export type StepTaps = Map<string, tf.Tensor>;

/**
 * The synthesis parameters of a generator: everything but the mapping network. Adam steps all
 * of them every iteration (torch 1 zero_grad semantics, see the golden README).
 */
export function synthesisParamNames(g: StyleGan2Generator): string[] {
  return [...g.params.keys()].filter((name) => !name.startsWith('style.'));
}

/**
 * One iteration of NADA's `train()` loop, numbered `step` (0-based) for the random draws:
 * select layers, render the batch with both generators (different noise), directional CLIP
 * loss, backward through the chosen modules only, Adam over every synthesis parameter.
 * Throws `train.non_finite` before touching the weights if the loss or a gradient is not finite.
 */
export function trainStep(t: Trainer, step: number, taps?: StepTaps): StepResult {
  const { frozen, train, random, options: o } = t;

  // Step 1: choose the modules to train (adaptive selection, or the fixed set).
  const selection =
    o.trainAllLayers || o.autoLayerIters === 0
      ? undefined
      : determineOptLayers(frozen, train, t.terms, random, step, o);
  const layers = selection?.layers ?? allTrainableLayers(train);
  const names = layerParams(train, layers);

  // Step 2: the batch: z → W by the frozen mapping, frozen images without gradients.
  const { wPlus, frozenImg } = tf.tidy(() => {
    const z = random.normal([o.batch, train.config.styleDim], step, 'z') as tf.Tensor2D;
    const w = frozen.mapping(z); // [batch, styleDim]
    const wp = tf.tile(tf.expandDims(w, 1), [1, train.nLatent, 1]) as tf.Tensor3D;
    const noise = noiseMaps(frozen, random, o.batch, step, 'frozen.noise');
    return { wPlus: wp, frozenImg: frozen.synthesis(wp, noise) };
  });
  const trainNoise = noiseMaps(train, random, o.batch, step, 'trainable.noise');

  // Step 3: forward and backward through the training generator (chosen variables only).
  const variables = names.map((n) => train.params.get(n)!);
  const { value, grads } = tf.variableGrads(() => {
    const trainImg = train.synthesis(wPlus, trainNoise);
    if (taps) keepTaps(taps, { 'frozen.img': frozenImg, 'trainable.img': trainImg });
    return nadaClipLoss(t.terms, frozenImg, trainImg, o);
  }, variables);
  const byParam = new Map(names.map((n, i) => [n, grads[variables[i].name]]));

  // Step 4: refuse a non-finite loss or gradient before the weights change.
  const loss = value.dataSync()[0];
  const gradsFinite = tf.tidy(() => {
    const sums = [...byParam.values()].map((g) => tf.sum(tf.square(g)));
    return Number.isFinite(tf.addN(sums).dataSync()[0]);
  });
  if (!Number.isFinite(loss) || !gradsFinite) {
    tf.dispose([value, wPlus, frozenImg, ...trainNoise, ...byParam.values()]);
    throw new NadaError(
      'train.non_finite',
      `the loss became ${Number.isFinite(loss) ? 'finite but a gradient did not' : loss} at step ` +
        `${step + 1}: training stopped; the last checkpoint is the last good state`,
      { step, loss },
    );
  }

  // Step 5: Adam over every synthesis parameter; unchosen ones get a zero gradient.
  if (taps) keepTaps(taps, Object.fromEntries([...byParam].map(([n, g]) => [`grad.${n}`, g])));
  t.adam.step(byParam);
  tf.dispose([value, wPlus, frozenImg, ...trainNoise, ...byParam.values()]);
  return { loss, layers, selection };
}

function keepTaps(taps: StepTaps, tensors: Record<string, tf.Tensor>): void {
  for (const [name, x] of Object.entries(tensors)) {
    taps.get(name)?.dispose();
    taps.set(name, tf.keep(tf.clone(x)));
  }
}
