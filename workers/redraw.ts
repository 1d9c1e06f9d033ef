import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { stepFileName, writeGrid } from '../src/images/grid.ts';
import { StyleGan2Generator } from '../src/models/stylegan2/index.ts';
import { readCheckpoint, type Checkpoint } from '../src/nada/checkpoint.ts';
import type { EngineModels } from '../src/nada/models.ts';
import { disposePreview, previewInputs, samplePreview, toImageBatch } from '../src/nada/preview.ts';
import { deriveSeed, SeededRandom } from '../src/nada/random.ts';

// As the engine: each generator's mean latent over 4096 z, seeded by the run's seed.
const MEAN_LATENT_SAMPLES = 4096;

export interface RedrawOptions {
  /** absolute path of the checkpoint whose generator draws */
  checkpointPath: string;
  /** seed of the new sample latents and noise */
  seed: number;
  nSample: number;
  /** this job's folder; the grid goes to `grids/step-<step>.png` */
  runDir: string;
  models: EngineModels;
}

/**
 * Draws new preview samples from a finished run's generator, without training: the same grid
 * as the run's (frozen generator on top, adapted below, ψ of the run), from latents of a new
 * seed. Returns the grid path and the checkpoint's step.
 *
 * @example
 * await redrawSamples({ checkpointPath, seed: 99, nSample: 3, runDir, models });
 * // { step: 40, grid: '<runDir>/grids/step-000040.png' }
 */
export async function redrawSamples(opts: RedrawOptions): Promise<{ step: number; grid: string }> {
  // Step 1: both generators as the run left them.
  const checkpoint = readCheckpoint(opts.checkpointPath);
  const { step, seed: runSeed, source, target } = checkpoint.meta;
  const train = StyleGan2Generator.fromTensors(checkpoint.generator, opts.checkpointPath);
  const frozen = frozenOf(checkpoint, opts.models);
  const truncation = Number(checkpoint.meta.options.sampleTruncation ?? 0.7);

  // Step 2: the run's mean latents (its seed), new latents and noise (the new seed).
  const means = {
    frozen: frozen.meanLatent(MEAN_LATENT_SAMPLES, deriveSeed(`${runSeed}:mean.frozen`)),
    train: train.meanLatent(MEAN_LATENT_SAMPLES, deriveSeed(`${runSeed}:mean.trainable`)),
  };
  const random = new SeededRandom(opts.seed);
  const preview = previewInputs(frozen, train, random, opts.nSample, means, truncation);

  // Step 3: sample and write the grid.
  const grid = path.join(opts.runDir, 'grids', stepFileName(step, 'png'));
  const images = samplePreview(frozen, train, preview);
  try {
    const rows = [
      { label: 'base', images: toImageBatch(images.frozen) },
      { label: 'adapted', images: toImageBatch(images.train) },
    ];
    await writeGrid(grid, rows, {
      caption: `step ${step} · ${source} → ${target} · seed ${opts.seed}`,
    });
  } finally {
    tf.dispose([images.frozen, images.train]);
    disposePreview(preview);
    train.dispose();
    if (frozen !== opts.models.generator) frozen.dispose();
  }
  return { step, grid };
}

// The run's frozen generator: the base model's, or a parent run's adapted one.
function frozenOf(checkpoint: Checkpoint, models: EngineModels): StyleGan2Generator {
  const from = checkpoint.meta.frozenFrom;
  if (from.kind === 'model') return models.generator;
  return StyleGan2Generator.fromTensors(readCheckpoint(from.path).generator, from.path);
}
