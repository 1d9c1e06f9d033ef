import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { z } from 'zod';

import { NadaError } from '../errors.ts';

/** The bundled models (the `demo` id) live in the repository, next to `src/`. */
const BUNDLED_DIR = fileURLToPath(new URL('../../models', import.meta.url));

const clipConfigSchema = z.object({
  embedDim: z.number().int().positive(),
  imageResolution: z.number().int().positive(),
  visionPatchSize: z.number().int().positive(),
  visionWidth: z.number().int().positive(),
  visionLayers: z.number().int().positive(),
  visionHeads: z.number().int().positive(),
  contextLength: z.number().int().positive(),
  vocabSize: z.number().int().positive(),
  textWidth: z.number().int().positive(),
  textLayers: z.number().int().positive(),
  textHeads: z.number().int().positive(),
});

const generatorConfigSchema = z.object({
  size: z.number().int().positive(),
  styleDim: z.number().int().positive(),
  nMlp: z.number().int().positive(),
  channelMultiplier: z.number().int().positive(),
  lrMlp: z.number().positive(),
  channels: z.record(z.string(), z.number().int().positive()),
});

/** What `models pull`/`import` record about each installed file (absent on the bundled demo). */
const fileFacts = {
  /** sha256 (hex) of the file as installed, checked by `nadabot models verify` */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  bytes: z.number().int().nonnegative().optional(),
  /** where it came from: a URL or a local path */
  origin: z.string().optional(),
};

/**
 * A multilingual text encoder shipped with a model: a folder in its release layout (M-CLIP or
 * sentence-transformers) that maps text into one of the model's CLIP spaces. The full entry is
 * checked by the text side's schema (`multilingualSpecSchema`) when it is loaded.
 */
const textEncoderEntrySchema = z
  .object({
    id: z.string().min(1),
    /** the folder, relative to the model's own folder */
    dir: z.string().min(1),
    /** the CLIP model (by name) whose space it maps into */
    space: z.string().min(1),
  })
  .loose();

/** `model.json`: what one model id is made of. */
export const modelInfoSchema = z.object({
  id: z.string(),
  description: z.string(),
  /** the source text that describes this generator's domain ("photo" for faces) */
  source: z.string(),
  generator: z.object({
    file: z.string(),
    format: z.string(),
    config: generatorConfigSchema,
    ...fileFacts,
  }),
  clip: z
    .array(
      z.object({
        name: z.string(),
        weight: z.number(),
        file: z.string(),
        format: z.string(),
        config: clipConfigSchema,
        ...fileFacts,
      }),
    )
    .min(1),
  /** multilingual encoders into the CLIP spaces above; CLIP's own encoders read English only */
  textEncoders: z.array(textEncoderEntrySchema).optional(),
  /** when `nadabot models verify` last passed (ISO time) */
  verifiedAt: z.string().optional(),
});

export type ModelInfo = z.infer<typeof modelInfoSchema>;

/** A model id resolved to absolute file paths. */
export interface ModelFiles {
  id: string;
  dir: string;
  info: ModelInfo;
  generatorPath: string;
  clip: {
    name: string;
    weight: number;
    path: string;
    config: ModelInfo['clip'][number]['config'];
    /** sha256 recorded by `models pull`/`import`, when there is one */
    sha256?: string;
  }[];
  /** the model's multilingual encoders, `dir` made absolute */
  textEncoders: TextEncoderEntry[];
}

/** One `textEncoders` entry of `model.json` (unknown keys kept for the text side's schema). */
export type TextEncoderEntry = z.infer<typeof textEncoderEntrySchema>;

/** The directory of real models: `NADABOT_MODELS_DIR`, else `~/.cache/nadabot/models`. */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.NADABOT_MODELS_DIR || join(homedir(), '.cache', 'nadabot', 'models'));
}

/**
 * Refuses an id that is not a plain folder name (letters, digits, `.`, `_`, `-`, not starting
 * with a dot), so that no id can name a path outside the model store.
 */
export function checkModelId(id: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(id)) {
    throw new NadaError('model.bad_id', `"${id}" is not a model id (letters, digits, . _ -)`, {
      id,
    });
  }
}

/**
 * Resolves a model id to its files. `demo` is bundled with nadabot; any other id is a folder
 * `<modelsDir>/<id>/` holding `model.json` and the files it names.
 *
 * @example
 * resolveModel('demo').generatorPath; // '/…/nadabot/models/demo/stylegan2.safetensors'
 */
export function resolveModel(id: string, dir = modelsDir()): ModelFiles {
  checkModelId(id);
  const base = id === 'demo' ? join(BUNDLED_DIR, 'demo') : join(dir, id);
  const info = readInfo(id, base);
  const files: ModelFiles = {
    id,
    dir: base,
    info,
    generatorPath: join(base, info.generator.file),
    clip: info.clip.map((c) => ({
      name: c.name,
      weight: c.weight,
      path: join(base, c.file),
      config: c.config,
      sha256: c.sha256,
    })),
    textEncoders: (info.textEncoders ?? []).map((e) => ({ ...e, dir: resolve(base, e.dir) })),
  };
  for (const path of [files.generatorPath, ...files.clip.map((c) => c.path)]) {
    if (!existsSync(path)) throw missing(id, base, `${path} is missing`);
  }
  return files;
}

/** The ids installed under `dir` (folders holding a `model.json`), sorted; `demo` not included. */
export function installedIds(dir = modelsDir()): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .filter((d) => existsSync(join(dir, d.name, 'model.json')))
    .map((d) => d.name)
    .sort();
}

/** True for the models that ship inside the repository (never written by `models` commands). */
export function isBundled(id: string): boolean {
  return id === 'demo';
}

/** Writes `model.json` into a model folder, checked against the schema first. */
export function writeModelInfo(folder: string, info: ModelInfo): void {
  const checked = modelInfoSchema.parse(info);
  writeFileSync(join(folder, 'model.json'), `${JSON.stringify(checked, null, 2)}\n`);
}

function readInfo(id: string, base: string): ModelInfo {
  const path = join(base, 'model.json');
  if (!existsSync(path)) throw missing(id, base, `${path} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NadaError('model.corrupt', `${path} is not valid JSON (${(err as Error).message})`, {
      id,
      path,
    });
  }
  const parsed = modelInfoSchema.safeParse(json);
  if (!parsed.success) {
    throw new NadaError(
      'model.corrupt',
      `${path} does not describe a model: ${parsed.error.message}`,
      {
        id,
        path,
      },
    );
  }
  return parsed.data;
}

function missing(id: string, base: string, what: string): NadaError {
  return new NadaError(
    'model.missing',
    `model "${id}" is not installed (${what}): run \`nadabot models pull ${id}\`, ` +
      `or set NADABOT_MODELS_DIR to the folder that holds ${id}/model.json`,
    { id, dir: base },
  );
}
