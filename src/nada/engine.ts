import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import * as tf from '@tensorflow/tfjs-core';
import type { Logger } from 'pino';

import { isNadaError, NadaError } from '../errors.ts';
import { stepFileName, writeGrid } from '../images/grid.ts';
import { logger as defaultLogger } from '../log.ts';
import { StyleGan2Generator } from '../models/stylegan2/index.ts';
import { Adam, nadaAdamConfig } from './adam.ts';
import {
  readCheckpoint,
  saveCheckpoint,
  stepPath,
  type Checkpoint,
  type CheckpointMeta,
  type FrozenSource,
} from './checkpoint.ts';
import { disposeClipTerms } from './clip-terms.ts';
import { disposeEngineModels, loadEngineModels, type EngineModels } from './models.ts';
import {
  disposePreview,
  previewInputs,
  samplePreview,
  toImageBatch,
  type PreviewInputs,
} from './preview.ts';
import { deriveSeed, SeededRandom } from './random.ts';
import { writeRunRecord } from './run-record.ts';
import { routeRunTexts, type RunNote } from './text-routing.ts';
import { synthesisParamNames, trainStep, type StepOptions, type Trainer } from './train.ts';
import type { AdaptHooks, AdaptOptions, AdaptResult, EngineEvent, RunRouting } from './types.ts';
import { openUnderstoodAs } from './understood.ts';

/** The settings a run trains with; stored in its checkpoints so a resume trains the same. */
export interface RunSettings extends StepOptions {
  source: string;
  target: string;
  seed: number;
  nSample: number;
  lr: number;
  sampleTruncation: number;
  clipModels: { name: string; weight: number }[];
}

/** Official defaults where NADA has them (README run: k 18, layer batch 8, ψ 0.7). */
const DEFAULTS = {
  lr: 0.002,
  autoLayerK: 18,
  autoLayerIters: 1,
  autoLayerBatch: 8,
  trainAllLayers: false,
  lambdaDirection: 1,
  lambdaGlobal: 0,
  sampleTruncation: 0.7,
};

/**
 * Settings for the bundled `demo` model (64 px generator, 32 px CLIP): batch 2, two preview
 * samples, 4 of the 10 W+ rows trained per step, ranked on 2 latents. About 1–1.5 s per step
 * on two CPU cores with the wasm backend.
 */
export const DEMO_SETTINGS = {
  batch: 2,
  nSample: 2,
  autoLayerK: 4,
  autoLayerIters: 1,
  autoLayerBatch: 2,
  outputInterval: 10,
} satisfies Partial<AdaptOptions>;

// Mean latents are averaged over this many z, as `mean_latent(4096)`.
const MEAN_LATENT_SAMPLES = 4096;

type Emit = (e: EngineEvent) => Promise<void>;

/** Everything a run holds while it trains. */
interface Run {
  opts: AdaptOptions;
  settings: RunSettings;
  models: EngineModels;
  trainer: Trainer;
  preview: PreviewInputs;
  startStep: number;
  meta: Omit<CheckpointMeta, 'step'>;
  log: Logger;
  notes: RunNote[];
  routing: RunRouting;
}

/**
 * Runs (or resumes, or continues) one StyleGAN-NADA adaptation: `opts.steps` training steps,
 * preview grids at the start, every `outputInterval` steps and at the end, checkpoints every
 * `checkpointInterval` steps, at the end and on cancel. Reports through `hooks.onEvent`.
 *
 * @example
 * const result = await runAdaptation(
 *   { target: 'sketch', source: 'photo', steps: 20, seed: 1, batch: 2, outputInterval: 10,
 *     nSample: 2, runDir: 'artifacts/r1', runId: 'r1' },
 *   { onEvent: (e) => console.log(e.type) },
 * );
 * // result.grids: ['artifacts/r1/grids/step-000000.png', '…step-000010.png', '…step-000020.png']
 */
export async function runAdaptation(
  opts: AdaptOptions,
  hooks: AdaptHooks = {},
): Promise<AdaptResult> {
  const log = (hooks.logger ?? defaultLogger).child({ runId: opts.runId });
  const emit = async (e: EngineEvent): Promise<void> => {
    await hooks.onEvent?.(e);
  };
  let models = hooks.models;
  let run: Run | undefined;
  let step = 0;
  try {
    // The starting point (fresh, resumed or continued) names the base model.
    const start = readStart(opts, hooks.models?.id);
    if (models?.id !== start.baseModel) {
      models = await loadEngineModels(start.baseModel, opts.modelsDir);
      await openUnderstoodAs(models, { log });
    }
    run = await prepareRun(opts, start, models, log);
    for (const n of run.notes) await emit({ type: 'note', code: n.code, message: n.message });
    step = run.startStep;
    return await trainLoop(run, emit, hooks, (s) => (step = s));
  } catch (err) {
    const code = isNadaError(err) ? err.code : 'internal';
    const message = (err as Error).message;
    log.error({ err, step, code }, 'adaptation failed');
    await emit({ type: 'failed', step, code, message });
    throw err;
  } finally {
    if (run) disposeRun(run);
    if (models && models !== hooks.models) disposeEngineModels(models);
  }
}

interface Start {
  resume?: Checkpoint;
  parent?: Checkpoint;
  baseModel: string;
}

function readStart(opts: AdaptOptions, loadedModel?: string): Start {
  if (opts.resumeFrom && opts.continueFrom) {
    throw new NadaError('options.conflict', 'give resumeFrom or continueFrom, not both');
  }
  const resume = opts.resumeFrom ? readCheckpoint(opts.resumeFrom) : undefined;
  const parent = opts.continueFrom ? readCheckpoint(opts.continueFrom) : undefined;
  const fresh = opts.model ?? loadedModel ?? 'demo';
  const baseModel = resume?.meta.baseModel ?? parent?.meta.baseModel ?? fresh;
  return { resume, parent, baseModel };
}

/** Routes and encodes texts, builds both generators, the optimiser and the preview inputs. */
async function prepareRun(
  opts: AdaptOptions,
  start: Start,
  models: EngineModels,
  log: Logger,
): Promise<Run> {
  // Step 1: the settings: the caller's for a new run, the checkpoint's for a resumed one.
  const { resume, parent, baseModel } = start;
  const settings = resume ? settingsFrom(resume) : settingsOf(opts, models);
  checkSettings(settings, opts);

  // Step 2: texts routed to an encoder per CLIP model, checked and encoded before training.
  const routed = await routeRunTexts(settings, models, log);
  for (const n of routed.notes) log.info({ code: n.code }, n.message);
  const terms = routed.terms;

  // Step 3: the two generators: frozen never changes, train starts as its copy.
  const frozenFrom = frozenSourceOf(resume, parent, opts, baseModel);
  const frozen = frozenGenerator(frozenFrom, models);
  const train = resume
    ? StyleGan2Generator.fromTensors(resume.generator, opts.resumeFrom)
    : frozen.clone();

  // Step 4: Adam over every synthesis parameter, restored on resume.
  const params = new Map(synthesisParamNames(train).map((n) => [n, train.params.get(n)!]));
  const adam = new Adam(nadaAdamConfig(settings.lr), params);
  if (resume) adam.loadState(resume.adam);

  // Step 5: fixed preview inputs; each generator has its own mean latent (as the official code).
  const random = new SeededRandom(settings.seed);
  const means = {
    frozen: frozen.meanLatent(MEAN_LATENT_SAMPLES, deriveSeed(`${settings.seed}:mean.frozen`)),
    train: train.meanLatent(MEAN_LATENT_SAMPLES, deriveSeed(`${settings.seed}:mean.trainable`)),
  };
  const preview = previewInputs(
    frozen,
    train,
    random,
    settings.nSample,
    means,
    settings.sampleTruncation,
  );

  const chain = parent
    ? [...parent.meta.chain, parent.meta.usedTarget]
    : (resume?.meta.chain ?? []);
  // an earlier attempt of this very run knows its first loss; a run trained further is new
  const firstLoss = resume?.meta.runId === opts.runId ? resume.meta.firstLoss : undefined;
  return {
    opts,
    settings,
    models,
    trainer: { frozen, train, terms, adam, random, options: settings },
    preview,
    startStep: resume?.meta.step ?? 0,
    meta: {
      runId: opts.runId,
      seed: settings.seed,
      source: settings.source,
      target: settings.target,
      usedTarget: routed.usedTarget,
      baseModel,
      clipModels: settings.clipModels,
      frozenFrom,
      chain,
      options: { ...settings },
      routing: routed.routing,
      firstLoss,
    },
    log,
    notes: routed.notes,
    routing: routed.routing,
  };
}

/** The training loop: steps, grids, checkpoints, cancel. */
async function trainLoop(
  run: Run,
  emit: Emit,
  hooks: AdaptHooks,
  at: (s: number) => void,
): Promise<AdaptResult> {
  const { opts, log } = run;
  const signal = hooks.signal;
  const first = run.startStep;
  const last = first + opts.steps;
  const checkpointEvery = opts.checkpointInterval ?? opts.outputInterval;
  const losses: number[] = [];
  const grids: string[] = [];
  let checkpoint: string | undefined;
  let step = first;

  await emit({ type: 'started', runId: opts.runId, totalSteps: last });
  log.info({ step, totalSteps: last, settings: run.settings }, 'adaptation started');
  // the record of the run, for people and tools looking into the artifact store
  writeRunRecord(opts.runDir, { ...run.meta });
  await emit({ type: 'understood', routing: run.routing });
  if (step === 0) grids.push(await renderPreview(run, emit, 0));

  while (step < last && !signal?.aborted) {
    // Step 0: a step holds the event loop until it ends; let the timers that are due run
    // first (a queue worker renews its job's lock on one), then the caller's own check.
    await sleep(0);
    await hooks.beforeStep?.();

    // Step 1: one training step (layer selection, loss, backward, Adam).
    const t0 = performance.now();
    const { loss, layers } = trainStep(run.trainer, step);
    step += 1;
    at(step);
    const msPerStep = Math.round(performance.now() - t0);
    losses.push(loss);
    run.meta.firstLoss ??= loss;

    // Step 2: report.
    log.debug({ step, loss, msPerStep, layers }, 'step');
    await emit({ type: 'step', step, loss, msPerStep, layers });

    // Step 3: previews and checkpoints on their schedule.
    if (step % opts.outputInterval === 0 || step === last) {
      log.info({ step, loss, msPerStep }, 'preview');
      grids.push(await renderPreview(run, emit, step));
    }
    if (step % checkpointEvery === 0 || step === last) {
      checkpoint = await writeCheckpoint(run, emit, step);
    }
  }

  // Cancelled: keep a usable checkpoint and the current images.
  const cancelled = step < last;
  if (cancelled) {
    log.info({ step }, 'adaptation cancelled');
    if (step > first || !checkpoint) checkpoint = await writeCheckpoint(run, emit, step);
    if (step % opts.outputInterval !== 0) grids.push(await renderPreview(run, emit, step));
  }
  await emit({
    type: 'finished',
    step,
    firstLoss: run.meta.firstLoss ?? NaN,
    lastLoss: losses[losses.length - 1] ?? NaN,
  });
  return { runId: opts.runId, steps: step, losses, grids, cancelled, checkpoint };
}

async function renderPreview(run: Run, emit: Emit, step: number): Promise<string> {
  const { frozen, train } = run.trainer;
  const images = samplePreview(frozen, train, run.preview);
  const path = join(run.opts.runDir, 'grids', stepFileName(step, 'png'));
  try {
    const caption = `step ${step} · ${run.settings.source} → ${run.settings.target}`;
    const rows = [
      { label: 'base', images: toImageBatch(images.frozen) },
      { label: 'adapted', images: toImageBatch(images.train) },
    ];
    await writeGrid(path, rows, { caption, cellPx: run.opts.gridCellPx });
  } finally {
    tf.dispose([images.frozen, images.train]);
  }
  await emit({ type: 'grid', step, path });
  return path;
}

async function writeCheckpoint(run: Run, emit: Emit, step: number): Promise<string> {
  const path = saveCheckpoint(
    run.opts.runDir,
    run.trainer.train.stateDict(),
    run.trainer.adam.stateTensors(),
    { ...run.meta, step },
  );
  run.log.info({ step, path }, 'checkpoint');
  await emit({ type: 'checkpoint', step, path });
  return path;
}

/** Settings of a new run: the caller's options over NADA's defaults. */
function settingsOf(opts: AdaptOptions, models: EngineModels): RunSettings {
  return {
    source: opts.source,
    target: opts.target,
    seed: opts.seed,
    batch: opts.batch,
    nSample: opts.nSample,
    lr: opts.lr ?? DEFAULTS.lr,
    autoLayerK: opts.autoLayerK ?? DEFAULTS.autoLayerK,
    autoLayerIters: opts.autoLayerIters ?? DEFAULTS.autoLayerIters,
    autoLayerBatch: opts.autoLayerBatch ?? DEFAULTS.autoLayerBatch,
    trainAllLayers: opts.trainAllLayers ?? DEFAULTS.trainAllLayers,
    lambdaDirection: opts.lambdaDirection ?? DEFAULTS.lambdaDirection,
    lambdaGlobal: opts.lambdaGlobal ?? DEFAULTS.lambdaGlobal,
    sampleTruncation: opts.sampleTruncation ?? DEFAULTS.sampleTruncation,
    clipModels: opts.clipModels ?? models.clips.map((c) => ({ name: c.name, weight: c.weight })),
  };
}

/** Settings of a resumed run: exactly those its checkpoint was trained with. */
function settingsFrom(cp: Checkpoint): RunSettings {
  return cp.meta.options as unknown as RunSettings;
}

function checkSettings(s: RunSettings, opts: AdaptOptions): void {
  const positiveInts: [string, number][] = [
    ['steps', opts.steps],
    ['batch', s.batch],
    ['nSample', s.nSample],
    ['outputInterval', opts.outputInterval],
    ['autoLayerK', s.autoLayerK],
    ['autoLayerBatch', s.autoLayerBatch],
  ];
  for (const [name, v] of positiveInts) {
    if (!Number.isInteger(v) || v < 1) {
      throw new NadaError('options.invalid', `${name} must be a whole number ≥ 1, got ${v}`, {
        name,
      });
    }
  }
  if (!(s.lr > 0) || !(s.sampleTruncation > 0 && s.sampleTruncation <= 1)) {
    throw new NadaError('options.invalid', `lr must be > 0 and sampleTruncation in (0, 1]`, {
      lr: s.lr,
      sampleTruncation: s.sampleTruncation,
    });
  }
}

function frozenSourceOf(
  resume: Checkpoint | undefined,
  parent: Checkpoint | undefined,
  opts: AdaptOptions,
  baseModel: string,
): FrozenSource {
  if (resume) return resume.meta.frozenFrom;
  if (parent) {
    const path = stepPath(opts.continueFrom!, parent.meta.step);
    return { kind: 'checkpoint', path, step: parent.meta.step };
  }
  return { kind: 'model', id: baseModel };
}

/** The frozen generator: the base model's own, or a parent run's adapted one (a copy). */
function frozenGenerator(from: FrozenSource, models: EngineModels): StyleGan2Generator {
  if (from.kind === 'model') return models.generator;
  return StyleGan2Generator.fromTensors(readCheckpoint(from.path).generator, from.path);
}

function disposeRun(run: Run): void {
  const { frozen, train, terms, adam } = run.trainer;
  disposePreview(run.preview);
  disposeClipTerms(terms);
  adam.dispose();
  train.dispose();
  if (frozen !== run.models.generator) frozen.dispose();
}
