import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';

import { ClipModel, ClipTokenizer, clipConfigFromJson } from '../src/models/clip/index.ts';
import { StyleGan2Generator } from '../src/models/stylegan2/index.ts';
import { readSafetensors } from '../src/models/weights/safetensors.ts';
import { Adam, nadaAdamConfig } from '../src/nada/adam.ts';
import { buildClipTerms, fitTexts } from '../src/nada/clip-terms.ts';
import { SeededRandom } from '../src/nada/random.ts';
import { clipWindow } from '../src/nada/text-direction.ts';
import { synthesisParamNames, type StepOptions, type Trainer } from '../src/nada/train.ts';

const golden = (rel: string) =>
  fileURLToPath(new URL(`../test/fixtures/golden/${rel}`, import.meta.url));

/** The golden tiny models: 64 px generator (32 channels) and the tiny OpenAI-layout CLIP. */
export interface TinyModels {
  generator: StyleGan2Generator;
  clip: ClipModel;
  tokenizer: ClipTokenizer;
}

export function loadTinyModels(): TinyModels {
  const genPath = golden('stylegan2/tiny-ffhq.safetensors');
  const generator = StyleGan2Generator.fromTensors(readSafetensors(genPath).tensors, genPath);
  const config = clipConfigFromJson(JSON.parse(readFileSync(golden('clip/config.json'), 'utf8')));
  const clipPath = golden('clip/tiny-clip-openai.safetensors');
  const clip = ClipModel.fromTensors(readSafetensors(clipPath).tensors, config);
  return { generator, clip, tokenizer: ClipTokenizer.load() };
}

/** The golden NADA run's options (batch 2, k 4, one selection iteration on 2 latents). */
export function stepOptions(layerSelection: boolean): StepOptions {
  return {
    batch: 2,
    trainAllLayers: !layerSelection,
    autoLayerK: 4,
    autoLayerIters: layerSelection ? 1 : 0,
    autoLayerBatch: 2,
    lambdaDirection: 1,
    lambdaGlobal: 0,
  };
}

/** A trainer as the engine builds one: frozen + cloned generator, "photo" → "sketch". */
export function makeTrainer(m: TinyModels, layerSelection: boolean): Trainer {
  const frozen = m.generator;
  const train = frozen.clone();
  const clips = [{ name: 'ViT-B/32', weight: 1, model: m.clip }];
  const texts = fitTexts('photo', 'sketch', clipWindow(m.tokenizer, m.clip.config.contextLength));
  const terms = buildClipTerms(clips, clips, texts, m.tokenizer);
  const params = new Map(synthesisParamNames(train).map((n) => [n, train.params.get(n)!]));
  const adam = new Adam(nadaAdamConfig(0.002), params);
  const random = new SeededRandom(1);
  return { frozen, train, terms, adam, random, options: stepOptions(layerSelection) };
}

/** Frees what `makeTrainer` made (not the shared models). */
export function disposeTrainer(t: Trainer): void {
  t.adam.dispose();
  t.train.dispose();
  for (const term of t.terms)
    tf.dispose([term.direction, term.targetFeatures, term.aTargetFeatures]);
}
