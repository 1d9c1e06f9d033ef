import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { NadaError } from '../errors.ts';
import { convertGenerator, installClip } from './convert.ts';
import { sha256File } from './download.ts';
import {
  isBundled,
  checkModelId,
  resolveModel,
  writeModelInfo,
  type ModelFiles,
  type ModelInfo,
} from './store.ts';

/** One CLIP model to install: a weights file and where its config comes from. */
export interface ClipSource {
  path: string;
  name: string;
  weight: number;
  /** file name in the model folder */
  file: string;
  configPath?: string;
  /** URL or path recorded in model.json */
  origin: string;
  /** move the file instead of copying it (a finished download) */
  move?: boolean;
}

/** Everything a model folder is made from. */
export interface InstallPlan {
  id: string;
  description: string;
  source: string;
  generator: { path: string; origin: string; size?: number };
  clips: ClipSource[];
  /** replace an installed model of the same id */
  force?: boolean;
}

/** A step of an install, for the command line to print. */
export type InstallStep = (message: string) => void;

/**
 * Builds a model folder from local files: converts the generator to `stylegan2.safetensors`,
 * installs each CLIP, records sizes and sha256 in `model.json`, then swaps the folder into
 * `<dir>/<id>` in one rename. On any error nothing is left behind, and the error's context
 * names the input file that caused it (`context.input`).
 */
export async function installModel(
  plan: InstallPlan,
  dir: string,
  step: InstallStep = () => {},
): Promise<ModelFiles> {
  refuseInstalled(plan.id, dir, plan.force);
  const staging = join(dir, `.${plan.id}.installing`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const info = await buildFolder(plan, staging, step);
    writeModelInfo(staging, info);
    swapIn(staging, dir, plan.id);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return resolveModel(plan.id, dir);
}

/** Refuses to overwrite an installed model unless asked to. */
export function refuseInstalled(id: string, dir: string, force = false): void {
  checkModelId(id);
  if (isBundled(id)) {
    throw new NadaError('model.bundled', `"${id}" is bundled with nadabot; pick another id`, {
      id,
    });
  }
  if (!force && existsSync(join(dir, id, 'model.json'))) {
    throw new NadaError(
      'model.exists',
      `model "${id}" is installed already in ${join(dir, id)}: check it with ` +
        `\`nadabot models verify ${id}\`, or pass --force to replace it`,
      { id },
    );
  }
}

async function buildFolder(plan: InstallPlan, staging: string, step: InstallStep) {
  // generator: rosinality checkpoint → stylegan2.safetensors
  step(`converting the generator ${plan.generator.origin}`);
  const genFile = join(staging, 'stylegan2.safetensors');
  const config = await blame(plan.generator.path, () =>
    convertGenerator(plan.generator.path, genFile, {
      label: plan.generator.origin,
      size: plan.generator.size,
    }),
  );
  const generator = { file: 'stylegan2.safetensors', config, ...(await facts(genFile)) };

  // CLIP models: kept (or converted to safetensors), checked against their configs
  const clip: ModelInfo['clip'] = [];
  for (const c of plan.clips) {
    step(`checking CLIP ${c.name} ${c.origin}`);
    const dest = join(staging, c.file);
    const done = await blame(c.path, () =>
      installClip(c.path, dest, {
        name: c.name,
        configPath: c.configPath,
        label: c.origin,
        move: c.move,
      }),
    );
    const { name, weight, file, origin } = c;
    const { format, config: clipConfig } = done;
    clip.push({ name, weight, file, format, config: clipConfig, origin, ...(await facts(dest)) });
  }

  const info: ModelInfo = {
    id: plan.id,
    description: plan.description,
    source: plan.source,
    generator: {
      ...generator,
      format: 'rosinality state dict (g_ema) as safetensors',
      origin: plan.generator.origin,
    },
    clip,
  };
  return info;
}

async function facts(path: string): Promise<{ bytes: number; sha256: string }> {
  return { bytes: statSync(path).size, sha256: await sha256File(path) };
}

/** Runs `f`; a NadaError it throws records which input file was at fault. */
async function blame<T>(input: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof NadaError) err.context.input = input;
    throw err;
  }
}

/** Puts the staged folder in place; an older one is moved aside first, then removed. */
function swapIn(staging: string, dir: string, id: string): void {
  const target = join(dir, id);
  const old = join(dir, `.${id}.replaced`);
  rmSync(old, { recursive: true, force: true });
  if (existsSync(target)) renameSync(target, old);
  renameSync(staging, target);
  rmSync(old, { recursive: true, force: true });
}
