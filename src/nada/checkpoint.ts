import { existsSync, linkSync, mkdirSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { NadaError } from '../errors.ts';
import {
  readSafetensors,
  readSafetensorsMetadata,
  writeSafetensors,
  type RawTensor,
} from '../models/weights/safetensors.ts';
import { stepFileName } from '../images/grid.ts';
import type { RunRouting } from './types.ts';
import { parseRunJson } from './run-record.ts';

export const CHECKPOINT_FORMAT = 'nadabot.nada-checkpoint.v1';

/** Where a run's frozen generator came from: the base model, or a parent run's checkpoint. */
export type FrozenSource =
  { kind: 'model'; id: string } | { kind: 'checkpoint'; path: string; step: number };

/** What a checkpoint says about its run (stored as JSON in `__metadata__`). */
export interface CheckpointMeta {
  runId: string;
  /** training steps completed */
  step: number;
  seed: number;
  source: string;
  /** the target as typed */
  target: string;
  /** the target text actually encoded (shortened to fit CLIP's context, if it had to be) */
  usedTarget: string;
  /** the model id in the store (the base generator and its CLIP models) */
  baseModel: string;
  clipModels: { name: string; weight: number }[];
  frozenFrom: FrozenSource;
  /** targets of the runs this one continues, oldest first */
  chain: string[];
  /** the engine options of the run, as JSON */
  options: Record<string, unknown>;
  /** which text encoder read the texts for each CLIP model (absent in older checkpoints) */
  routing?: RunRouting;
  /**
   * the loss at this run's first step, kept so a resumed run still reports it (absent before
   * the first step and in older checkpoints)
   */
  firstLoss?: number;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** the training generator's full state dict (parameters and buffers) */
  generator: Map<string, RawTensor>;
  /** Adam state (`adam.<param>.exp_avg|exp_avg_sq|step`) */
  adam: Map<string, RawTensor>;
}

/**
 * Writes `<runDir>/checkpoints/step-000100.safetensors` and points `latest.safetensors` at it
 * (a hard link, or a copy where links are not allowed). The file holds the training
 * generator's whole state dict under its official names (a standalone generator that
 * `StyleGan2Generator.fromTensors` reads) and the Adam state; written to a temporary name
 * first so a crash never leaves a half file under the real name.
 */
export function saveCheckpoint(
  runDir: string,
  generator: Map<string, RawTensor>,
  adam: Map<string, RawTensor>,
  meta: CheckpointMeta,
): string {
  const dir = join(runDir, 'checkpoints');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, stepFileName(meta.step, 'safetensors'));
  const tensors = new Map([...generator, ...adam]);
  const metadata = {
    format: CHECKPOINT_FORMAT,
    step: String(meta.step),
    target: meta.target,
    source: meta.source,
    base_model: meta.baseModel,
    nadabot: JSON.stringify(meta),
  };
  writeAtomically(path, (tmp) => writeSafetensors(tmp, tensors, metadata));
  writeAtomically(latestPath(runDir), (tmp) => {
    try {
      linkSync(path, tmp);
    } catch {
      copyFileSync(path, tmp);
    }
  });
  return path;
}

/** `<runDir>/checkpoints/latest.safetensors`. */
export function latestPath(runDir: string): string {
  return join(runDir, 'checkpoints', 'latest.safetensors');
}

/** The step-numbered file that holds the same state as `path` (for `latest`, its target). */
export function stepPath(path: string, step: number): string {
  const numbered = join(dirname(path), stepFileName(step, 'safetensors'));
  return existsSync(numbered) ? numbered : path;
}

/** Reads a checkpoint written by `saveCheckpoint`. */
export function readCheckpoint(path: string): Checkpoint {
  checkExists(path);
  const { tensors, metadata } = readSafetensors(path);
  const meta = checkpointMeta(metadata, path);
  const generator = new Map<string, RawTensor>();
  const adam = new Map<string, RawTensor>();
  for (const [name, t] of tensors) (name.startsWith('adam.') ? adam : generator).set(name, t);
  return { meta, generator, adam };
}

/** A checkpoint's run metadata alone (run id, texts, step), read without its tensors. */
export function readCheckpointMeta(path: string): CheckpointMeta {
  checkExists(path);
  return checkpointMeta(readSafetensorsMetadata(path), path);
}

function checkExists(path: string): void {
  if (!existsSync(path)) {
    throw new NadaError('checkpoint.missing', `no checkpoint at ${path}`, { path });
  }
}

function checkpointMeta(metadata: Record<string, string>, path: string): CheckpointMeta {
  if (metadata.format !== CHECKPOINT_FORMAT || !metadata.nadabot) {
    throw new NadaError(
      'checkpoint.format',
      `${path} is not a nadabot run checkpoint (format "${metadata.format ?? 'none'}", ` +
        `expected "${CHECKPOINT_FORMAT}")`,
      { path },
    );
  }
  return parseRunJson(metadata.nadabot, `${path}'s nadabot metadata`) as CheckpointMeta;
}

function writeAtomically(path: string, write: (tmp: string) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  write(tmp);
  renameSync(tmp, path);
}
