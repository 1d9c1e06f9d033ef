import { NadaError } from '../../errors.ts';
import type { RawTensor } from '../weights/safetensors.ts';

/** The transformer families the Multilingual-CLIP releases are built on. */
export type MclipArchitecture = 'xlm-roberta' | 'bert' | 'distilbert';

/**
 * Shape and numerics of one M-CLIP text encoder: a transformer, mean pooling over the
 * attention mask, then a linear map into one CLIP model's embedding space.
 */
export interface MclipConfig {
  architecture: MclipArchitecture;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  ffn: number;
  maxPositions: number;
  /** token types (XLM-R 1, BERT 2, DistilBERT 0) */
  typeVocab: number;
  padId: number;
  layerNormEps: number;
  /** size of the CLIP space the linear head maps into (512 for ViT-B/32) */
  outDim: number;
  /** whether the head has a bias (M-CLIP's LinearTransformation does, sentence-transformers' Dense may not) */
  headBias: boolean;
}

/** Attention heads of the public base models, for configs that only name their base. */
const KNOWN_HEADS: Record<string, number> = {
  'xlm-roberta-large': 16,
  'xlm-roberta-base': 12,
  'distilbert-base-multilingual-cased': 12,
  'bert-base-multilingual-cased': 12,
  'bert-base-multilingual-uncased': 12,
  'setu4993/LaBSE': 12,
  'sentence-transformers/LaBSE': 12,
};

type Json = Record<string, unknown>;

function num(cfg: Json, ...keys: string[]): number | undefined {
  for (const k of keys) if (typeof cfg[k] === 'number') return cfg[k] as number;
  return undefined;
}

/** Decides the architecture from a Hugging Face config's model_type, else from weight names. */
function architectureOf(cfg: Json, names: string[]): MclipArchitecture {
  const type = String(cfg.model_type ?? '');
  if (type === 'xlm-roberta' || type === 'roberta') return 'xlm-roberta';
  if (type === 'distilbert') return 'distilbert';
  if (type === 'bert') return 'bert';
  const base = String(cfg.modelBase ?? cfg._name_or_path ?? '').toLowerCase();
  if (base.includes('xlm-roberta') || base.includes('roberta')) return 'xlm-roberta';
  if (base.includes('distilbert')) return 'distilbert';
  if (names.some((n) => n.includes('.attention.q_lin.'))) return 'distilbert';
  if (base.includes('bert') || base.includes('labse')) return 'bert';
  throw new NadaError(
    'encoder.unknown_architecture',
    `cannot tell which transformer this encoder uses (model_type "${type}", base "${base}"): ` +
      'expected xlm-roberta, bert or distilbert in config.json',
    { modelType: type, base },
  );
}

/**
 * Builds the config from a Hugging Face style `config.json` (a base transformer config, an
 * M-CLIP config with `modelBase`/`transformerDimSize`/`imageDimSize`, or both merged) and the
 * weight shapes, which decide every size they can.
 */
export function mclipConfigFrom(
  json: Json,
  weights: Map<string, RawTensor>,
  head: { weight: RawTensor; bias?: RawTensor },
): MclipConfig {
  const base = { ...((json.base_config as Json) ?? {}), ...json };
  const names = [...weights.keys()];
  const architecture = architectureOf(base, names);
  const word = weights.get('embeddings.word_embeddings.weight');
  const pos = weights.get('embeddings.position_embeddings.weight');
  if (!word || !pos) {
    throw new NadaError(
      'encoder.weights_missing',
      'encoder weights lack the word or position embeddings',
      {
        names: names.slice(0, 8),
      },
    );
  }
  const hidden = word.shape[1];
  const layers = countLayers(names);
  const ffn = ffnSize(weights, architecture);
  const heads = num(base, 'num_attention_heads', 'n_heads') ?? KNOWN_HEADS[String(base.modelBase)];
  if (!heads || hidden % heads !== 0) {
    throw new NadaError(
      'encoder.config_incomplete',
      `config.json gives no usable attention head count (got ${heads}, hidden size ${hidden}): ` +
        'add "num_attention_heads" to config.json',
      { modelBase: base.modelBase },
    );
  }
  const typeEmb = weights.get('embeddings.token_type_embeddings.weight');
  const defaultEps = architecture === 'xlm-roberta' ? 1e-5 : 1e-12;
  return {
    architecture,
    vocabSize: word.shape[0],
    hidden,
    layers,
    heads,
    ffn,
    maxPositions: pos.shape[0],
    typeVocab: typeEmb ? typeEmb.shape[0] : 0,
    padId: num(base, 'pad_token_id') ?? (architecture === 'xlm-roberta' ? 1 : 0),
    layerNormEps: num(base, 'layer_norm_eps') ?? defaultEps,
    outDim: head.weight.shape[0],
    headBias: head.bias !== undefined,
  };
}

function countLayers(names: string[]): number {
  let n = 0;
  for (const name of names) {
    const m = /^(?:encoder|transformer)\.layer\.(\d+)\./.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

function ffnSize(weights: Map<string, RawTensor>, arch: MclipArchitecture): number {
  const key =
    arch === 'distilbert'
      ? 'transformer.layer.0.ffn.lin1.weight'
      : 'encoder.layer.0.intermediate.dense.weight';
  const w = weights.get(key);
  if (!w) throw new NadaError('encoder.weights_missing', `encoder weights lack ${key}`, { key });
  return w.shape[0];
}
