import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { NadaError } from '../errors.ts';
import type { AdaptOptions } from '../nada/types.ts';

/** `nadabot adapt`'s options as commander hands them over. */
export interface AdaptCliOptions {
  source?: string;
  steps?: number;
  seed?: number;
  out?: string;
  model?: string;
  resume?: string;
  continue?: string;
  batch?: number;
  samples?: number;
  outputInterval?: number;
  checkpointInterval?: number;
  lr?: number;
  autoLayerK?: number;
  autoLayerIters?: number;
  autoLayerBatch?: number;
  allLayers?: boolean;
  lambdaDirection?: number;
  lambdaGlobal?: number;
  truncation?: number;
  clip?: { name: string; weight: number }[];
}

/** The training options a resumed run takes from its checkpoint, not from the command line. */
const TRAINING_OPTIONS = [
  'source',
  'seed',
  'model',
  'batch',
  'samples',
  'lr',
  'autoLayerK',
  'autoLayerIters',
  'autoLayerBatch',
  'allLayers',
  'lambdaDirection',
  'lambdaGlobal',
  'truncation',
  'clip',
] as const;

export function wholeNumber(name: string, min = 0) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
    }
    return Number(value);
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a number above 0`);
    }
    return n;
  };
}

function weight(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${name} must be a number, 0 or more`);
    }
    return n;
  };
}

// `--clip ViT-B/32=1 --clip ViT-B/16=0.5`: each CLIP model of the run and its loss weight.
function clipWeight(value: string, previous: { name: string; weight: number }[] = []) {
  const at = value.lastIndexOf('=');
  const name = (at < 0 ? value : value.slice(0, at)).trim();
  const w = at < 0 ? 1 : Number(value.slice(at + 1));
  if (
    name === '' ||
    !Number.isFinite(w) ||
    w < 0 ||
    (at >= 0 && value.slice(at + 1).trim() === '')
  ) {
    throw new InvalidArgumentError('--clip takes NAME or NAME=WEIGHT, as ViT-B/32=1');
  }
  return [...previous, { name, weight: w }];
}

/** Adds the engine's options to `nadabot adapt`, in the official option names' order. */
export function addAdaptOptions(command: Command): Command {
  return command
    .option('--source <text>', 'what the images are now (default: the model\'s, "photo")')
    .option('--steps <n>', 'training steps (with --resume: steps more)', wholeNumber('--steps', 1))
    .option('--seed <n>', 'seed of the samples and the training draws', wholeNumber('--seed'))
    .option('--out <dir>', 'folder for the grids and checkpoints (default: artifacts/<run id>)')
    .option('--model <id>', 'the base model in the store (default: NADABOT_MODEL, "demo")')
    .option('--resume <run>', 'train an earlier run further: its folder, id or checkpoint file')
    .option('--continue <run>', 'steer an earlier run on toward <prompt> from where it stopped')
    .addOption(new Option('--batch <n>', 'training batch').argParser(wholeNumber('--batch', 1)))
    .addOption(
      new Option('--samples <n>', 'faces per preview grid').argParser(wholeNumber('--samples', 1)),
    )
    .option(
      '--output-interval <n>',
      'a grid every this many steps',
      wholeNumber('--output-interval', 1),
    )
    .option(
      '--checkpoint-interval <n>',
      'a checkpoint every this many steps (default: the output interval)',
      wholeNumber('--checkpoint-interval', 1),
    )
    .option(
      '--lr <x>',
      'learning rate before the 4/5 factor (official 0.002)',
      positiveNumber('--lr'),
    )
    .option(
      '--auto-layer-k <n>',
      'W+ rows trained per step (official 18)',
      wholeNumber('--auto-layer-k', 1),
    )
    .option(
      '--auto-layer-iters <n>',
      'SGD steps that rank the layers; 0 trains all layers (official 1)',
      wholeNumber('--auto-layer-iters'),
    )
    .option(
      '--auto-layer-batch <n>',
      'latents that rank the layers (official 8)',
      wholeNumber('--auto-layer-batch', 1),
    )
    .option('--all-layers', 'train every synthesis layer each step, no layer selection')
    .option(
      '--lambda-direction <x>',
      'weight of the directional CLIP loss (1)',
      weight('--lambda-direction'),
    )
    .option('--lambda-global <x>', 'weight of the global CLIP loss (0)', weight('--lambda-global'))
    .option('--truncation <psi>', 'ψ of the preview samples (0.7)', positiveNumber('--truncation'))
    .option('--clip <name=weight>', 'a CLIP model and its loss weight (repeat)', clipWeight);
}

/** The engine options the command line sets; unset ones keep the engine's defaults. */
export function engineOptions(o: AdaptCliOptions): Partial<AdaptOptions> {
  const all: Partial<AdaptOptions> = {
    lr: o.lr,
    autoLayerK: o.autoLayerK,
    autoLayerIters: o.autoLayerIters,
    autoLayerBatch: o.autoLayerBatch,
    trainAllLayers: o.allLayers,
    lambdaDirection: o.lambdaDirection,
    lambdaGlobal: o.lambdaGlobal,
    sampleTruncation: o.truncation,
    clipModels: o.clip,
    checkpointInterval: o.checkpointInterval,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

/**
 * Refuses combinations that cannot mean anything: a resumed run trains with its own
 * checkpoint's texts and settings, so it takes no prompt and no training option.
 */
export function checkCombination(prompt: string | undefined, o: AdaptCliOptions): void {
  if (o.resume !== undefined && o.continue !== undefined) {
    throw usage('give --resume (train a run further) or --continue (steer it on), not both');
  }
  if (o.resume === undefined && prompt === undefined) {
    throw usage('give the prompt: nadabot adapt "bronze statue"');
  }
  if (o.resume === undefined) return;
  if (prompt !== undefined) {
    throw usage(
      `--resume trains the run toward its own prompt; to steer it toward "${prompt}" ` +
        'use --continue instead',
    );
  }
  const set = TRAINING_OPTIONS.filter((k) => o[k] !== undefined);
  if (set.length > 0) {
    throw usage(
      `a resumed run keeps its checkpoint's settings, so ${set.map(flag).join(', ')} ` +
        'cannot change; use --continue for a new run from its generator',
    );
  }
}

/**
 * The checkpoint of an earlier run, named by its folder, its id under the artifact store,
 * or a checkpoint file; returns the file and the run's folder.
 */
export function findRunCheckpoint(
  run: string,
  artifactsDir: string,
): { checkpoint: string; runDir: string } {
  if (run.endsWith('.safetensors') && isFile(run)) {
    return { checkpoint: path.resolve(run), runDir: path.resolve(run, '..', '..') };
  }
  for (const dir of [run, path.join(artifactsDir, run)]) {
    const checkpoint = path.join(dir, 'checkpoints', 'latest.safetensors');
    if (isFile(checkpoint))
      return { checkpoint: path.resolve(checkpoint), runDir: path.resolve(dir) };
  }
  throw new NadaError(
    'cli.run_missing',
    `no run "${run}": expected a run folder with checkpoints/latest.safetensors, a run id ` +
      `under ${artifactsDir}, or a checkpoint file`,
    { run, artifactsDir },
  );
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}

function flag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function usage(message: string): NadaError {
  return new NadaError('cli.usage', message);
}
