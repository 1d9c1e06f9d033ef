import { ClipModel, ClipTokenizer } from '../models/clip/index.ts';
import { resolveModel } from '../models/store.ts';
import { StyleGan2Generator } from '../models/stylegan2/index.ts';
import { readSafetensors } from '../models/weights/safetensors.ts';

/** One CLIP model of a NADA setup with its loss weight (clip_model_weights). */
export interface EngineClip {
  name: string;
  weight: number;
  model: ClipModel;
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
}

/**
 * Loads a model id from the store: the base generator, its CLIP models and the tokenizer.
 *
 * @example
 * const models = await loadEngineModels('demo'); // the bundled 64 px generator and tiny CLIP
 */
export async function loadEngineModels(id: string, modelsDir?: string): Promise<EngineModels> {
  const files = resolveModel(id, modelsDir);
  const generator = StyleGan2Generator.fromTensors(
    readSafetensors(files.generatorPath).tensors,
    files.generatorPath,
  );
  const clips = files.clip.map((c) => ({
    name: c.name,
    weight: c.weight,
    model: ClipModel.fromTensors(readSafetensors(c.path).tensors, c.config),
  }));
  return {
    id,
    defaultSource: files.info.source,
    generator,
    clips,
    tokenizer: ClipTokenizer.load(),
  };
}

/** Frees the tensors of loaded models. */
export function disposeEngineModels(m: EngineModels): void {
  m.generator.dispose();
  for (const c of m.clips) c.model.dispose();
}
