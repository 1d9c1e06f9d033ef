import { existsSync, readFileSync } from 'node:fs';

import { NadaError } from '../errors.ts';
import { ClipModel, ClipTokenizer } from '../models/clip/index.ts';
import { modelsDir as defaultModelsDir, resolveModel } from '../models/store.ts';
import { StyleGan2Generator } from '../models/stylegan2/index.ts';
import { readSafetensors } from '../models/weights/safetensors.ts';
import { hashFiles, type TextEncoder } from '../text/encoder.ts';
import {
  loadMultilingualEncoders,
  multilingualSpecSchema,
  type MultilingualSpec,
} from '../text/registry.ts';
import type { UnderstoodAsIndex } from '../text/understood-as.ts';

/** One CLIP model of a NADA setup with its loss weight (clip_model_weights). */
export interface EngineClip {
  name: string;
  weight: number;
  model: ClipModel;
  /** hash of the weights file, keying caches of its text embeddings (the understood-as list) */
  weightsHash?: string;
}

/**
 * The models an adaptation needs, loaded once (a worker keeps them between jobs: runs clone
 * the generator and never change these).
 */
export interface EngineModels {
  id: string;
  /** the source text that describes the generator's domain */
  defaultSource: string;
  generator: StyleGan2Generator;
  clips: EngineClip[];
  tokenizer: ClipTokenizer;
  /** multilingual text encoders into the CLIP spaces above; none: English only */
  multilingual?: TextEncoder[];
  /** the English understood-as list embedded in each CLIP space (`openUnderstoodAs`) */
  understoodAs?: UnderstoodAsIndex[];
}

/** Where the text encoders of a setup come from besides the model's own `model.json`. */
export interface EngineModelOptions {
  /** a JSON file listing more multilingual encoders; default `NADABOT_TEXT_ENCODERS` */
  textEncodersFile?: string;
}

/**
 * Loads a model id from the store: the base generator, its CLIP models, the tokenizer and the
 * multilingual encoders listed in its `model.json` or in `NADABOT_TEXT_ENCODERS`.
 *
 * @example
 * const models = await loadEngineModels('demo'); // the bundled 64 px generator, tiny CLIP and tiny XLM-R
 */
export async function loadEngineModels(
  id: string,
  modelsDir?: string,
  opts: EngineModelOptions = {},
): Promise<EngineModels> {
  const files = resolveModel(id, modelsDir);
  const generator = StyleGan2Generator.fromTensors(
    readSafetensors(files.generatorPath).tensors,
    files.generatorPath,
  );
  const clips = files.clip.map((c) => ({
    name: c.name,
    weight: c.weight,
    model: ClipModel.fromTensors(readSafetensors(c.path).tensors, c.config),
    weightsHash: c.sha256?.slice(0, 16) ?? hashFiles([c.path]),
  }));
  const spaces = new Set(clips.map((c) => c.name));
  const listed = readTextEncoderList(opts.textEncodersFile ?? process.env.NADABOT_TEXT_ENCODERS);
  const specs = [...(files.textEncoders as MultilingualSpec[]), ...listed].filter((s) =>
    spaces.has(s.space),
  );
  return {
    id,
    defaultSource: files.info.source,
    generator,
    clips,
    tokenizer: ClipTokenizer.load(),
    multilingual: await loadMultilingualEncoders(specs, modelsDir ?? defaultModelsDir()),
  };
}

/** Frees the tensors of loaded models. */
export function disposeEngineModels(m: EngineModels): void {
  m.generator.dispose();
  for (const c of m.clips) c.model.dispose();
  for (const e of m.multilingual ?? []) e.dispose();
}

/**
 * The operator's list of multilingual encoders (`NADABOT_TEXT_ENCODERS`): a JSON array of
 * entries as `loadMultilingualEncoders` takes them, folders relative to the models directory.
 * Every entry is checked before any is loaded.
 */
export function readTextEncoderList(file: string | undefined): MultilingualSpec[] {
  if (!file) return [];
  const fail = (why: string) =>
    new NadaError(
      'config.invalid',
      `NADABOT_TEXT_ENCODERS ${why}: point it at a JSON array of encoder entries ` +
        '({ "id", "dir", "space", "languages"?, … }), or unset it',
      { variable: 'NADABOT_TEXT_ENCODERS', file },
    );
  if (!existsSync(file)) throw fail(`names ${file}, which does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw fail(`names ${file}, which is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(json)) throw fail(`names ${file}, which holds no JSON array`);
  json.forEach((entry, i) => {
    const parsed = multilingualSpecSchema.safeParse(entry);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`);
      throw fail(`entry ${i} in ${file} is not valid (${issues.join('; ')})`);
    }
  });
  return json as MultilingualSpec[];
}
