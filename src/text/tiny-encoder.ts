import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { exportMclipOnnx, MclipTextModel, type MclipArchitecture } from '../models/mclip/index.ts';
import { encodeSafetensors, type RawTensor } from '../models/weights/safetensors.ts';

/**
 * Tiny multilingual encoders in the real release layouts, with random seeded weights and a
 * small vocabulary: for the offline demo and the tests. They carry no meaning; every file has
 * the format of the released models, so the real loading path runs on them.
 */
export interface TinyEncoderSpec {
  architecture: MclipArchitecture;
  /** 'mclip': one folder; 'sentence-transformers': modules.json + Transformer/Pooling/Dense */
  layout: 'mclip' | 'sentence-transformers';
  /** tokenizer pieces after the special tokens (Unigram: '▁word' starts a word; WordPiece: '##' continues) */
  pieces: string[];
  outDim: number;
  seed: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  /** WordPiece only: lower-case and strip accents, as uncased BERT does */
  uncased?: boolean;
  /** also write onnx/model.onnx: the whole encoder, or the transformer alone */
  onnx?: 'full' | 'hidden';
}

const XLMR_SPECIALS = ['<s>', '<pad>', '</s>', '<unk>'];
const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** Writes the folder and returns the model it holds (the caller disposes it). */
export function writeTinyEncoder(dir: string, spec: TinyEncoderSpec): MclipTextModel {
  const specials = spec.architecture === 'xlm-roberta' ? XLMR_SPECIALS : BERT_SPECIALS;
  const vocab = [...specials, ...spec.pieces];
  const config = baseConfig(spec, vocab.length);
  const tensors = randomTensors(spec, vocab.length, config);
  const model = MclipTextModel.fromTensors(tensors, config);
  const tokenizer =
    spec.architecture === 'xlm-roberta' ? unigramJson(vocab) : wordPieceJson(vocab, !!spec.uncased);

  mkdirSync(dir, { recursive: true });
  if (spec.layout === 'mclip') {
    writeFolder(
      dir,
      { ...config, modelBase: `tiny-${spec.architecture}`, imageDimSize: spec.outDim },
      tokenizer,
      tensors,
    );
  } else {
    writeSentenceTransformers(dir, spec, config, tokenizer, tensors);
  }
  if (spec.onnx) {
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    writeFileSync(
      join(dir, 'onnx', 'model.onnx'),
      exportMclipOnnx(model, { head: spec.onnx === 'full' }),
    );
  }
  return model;
}

function baseConfig(spec: TinyEncoderSpec, vocabSize: number): Record<string, unknown> {
  const hidden = spec.hidden ?? 16;
  const common = {
    vocab_size: vocabSize,
    pad_token_id: spec.architecture === 'xlm-roberta' ? 1 : 0,
  };
  if (spec.architecture === 'distilbert') {
    return {
      ...common,
      model_type: 'distilbert',
      dim: hidden,
      n_layers: spec.layers ?? 2,
      n_heads: spec.heads ?? 2,
      hidden_dim: hidden * 2,
      max_position_embeddings: 64,
    };
  }
  const xlmr = spec.architecture === 'xlm-roberta';
  return {
    ...common,
    model_type: spec.architecture,
    hidden_size: hidden,
    num_hidden_layers: spec.layers ?? 2,
    num_attention_heads: spec.heads ?? 2,
    intermediate_size: hidden * 2,
    max_position_embeddings: xlmr ? 66 : 64,
    type_vocab_size: xlmr ? 1 : 2,
    layer_norm_eps: xlmr ? 1e-5 : 1e-12,
  };
}

function writeFolder(
  dir: string,
  config: object,
  tokenizer: object,
  tensors: Map<string, RawTensor>,
): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
}

function writeSentenceTransformers(
  dir: string,
  spec: TinyEncoderSpec,
  config: Record<string, unknown>,
  tokenizer: object,
  tensors: Map<string, RawTensor>,
): void {
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' },
  ];
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules, null, 2));
  const transformer = new Map(
    [...tensors].filter(([k]) => k.startsWith('transformer.')).map(([k, v]) => [k.slice(12), v]),
  );
  writeFolder(dir, config, tokenizer, transformer);
  const hidden = tensors.get('LinearTransformation.weight')!.shape[1];
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  writeFileSync(
    join(dir, '1_Pooling', 'config.json'),
    JSON.stringify({
      word_embedding_dimension: hidden,
      pooling_mode_cls_token: false,
      pooling_mode_mean_tokens: true,
      pooling_mode_max_tokens: false,
    }),
  );
  mkdirSync(join(dir, '2_Dense'), { recursive: true });
  writeFileSync(
    join(dir, '2_Dense', 'config.json'),
    JSON.stringify({
      in_features: hidden,
      out_features: spec.outDim,
      bias: false,
      activation_function: 'torch.nn.modules.linear.Identity',
    }),
  );
  const dense = new Map([['linear.weight', tensors.get('LinearTransformation.weight')!]]);
  writeFileSync(
    join(dir, '2_Dense', 'model.safetensors'),
    encodeSafetensors(dense, { format: 'pt' }),
  );
}

/** M-CLIP state-dict tensors with N(0, 0.1²) weights from a seeded generator. */
function randomTensors(
  spec: TinyEncoderSpec,
  vocabSize: number,
  config: Record<string, unknown>,
): Map<string, RawTensor> {
  const rand = gaussian(spec.seed);
  const out = new Map<string, RawTensor>();
  const put = (name: string, shape: number[], mean = 0, std = 0.1) => {
    const data = Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => mean + std * rand(),
    );
    out.set(name, { dtype: 'F32', shape, data });
  };
  const d = spec.hidden ?? 16;
  const ffn = d * 2;
  const lin = (p: string, o: number, i: number) => {
    put(`${p}.weight`, [o, i]);
    put(`${p}.bias`, [o]);
  };
  const ln = (p: string) => {
    put(`${p}.weight`, [d], 1);
    put(`${p}.bias`, [d]);
  };
  put('transformer.embeddings.word_embeddings.weight', [vocabSize, d], 0, 1);
  put(
    'transformer.embeddings.position_embeddings.weight',
    [config.max_position_embeddings as number, d],
    0,
    0.5,
  );
  if (spec.architecture !== 'distilbert')
    put('transformer.embeddings.token_type_embeddings.weight', [
      config.type_vocab_size as number,
      d,
    ]);
  ln('transformer.embeddings.LayerNorm');
  for (let i = 0; i < (spec.layers ?? 2); i++) {
    if (spec.architecture === 'distilbert') {
      const p = `transformer.transformer.layer.${i}.`;
      for (const n of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) lin(`${p}attention.${n}`, d, d);
      ln(`${p}sa_layer_norm`);
      lin(`${p}ffn.lin1`, ffn, d);
      lin(`${p}ffn.lin2`, d, ffn);
      ln(`${p}output_layer_norm`);
    } else {
      const p = `transformer.encoder.layer.${i}.`;
      for (const n of ['self.query', 'self.key', 'self.value', 'output.dense'])
        lin(`${p}attention.${n}`, d, d);
      ln(`${p}attention.output.LayerNorm`);
      lin(`${p}intermediate.dense`, ffn, d);
      lin(`${p}output.dense`, d, ffn);
      ln(`${p}output.LayerNorm`);
    }
  }
  lin('LinearTransformation', spec.outDim, d);
  return out;
}

/** Standard normal numbers from a seeded mulberry32 stream (Box–Muller). */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function special(id: number, content: string) {
  return {
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
}

function template(first: string, last: string, ids: [number, number]) {
  return {
    type: 'TemplateProcessing',
    single: [
      { SpecialToken: { id: first, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: last, type_id: 0 } },
    ],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: {
      [first]: { id: first, ids: [ids[0]], tokens: [first] },
      [last]: { id: last, ids: [ids[1]], tokens: [last] },
    },
  };
}

/** An XLM-R style tokenizer.json: NFKC, Metaspace, Unigram; `<s> … </s>`. Longer pieces score higher. */
export function unigramJson(vocab: string[]): object {
  return {
    version: '1.0',
    added_tokens: XLMR_SPECIALS.map((t, i) => special(i, t)),
    normalizer: { type: 'NFKC' },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: template('<s>', '</s>', [0, 2]),
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: {
      type: 'Unigram',
      unk_id: 3,
      byte_fallback: false,
      vocab: vocab.map((p, i) => [p, i < XLMR_SPECIALS.length ? 0 : -10 + Math.min(p.length, 8)]),
    },
  };
}

/** A BERT style tokenizer.json: BertNormalizer, BertPreTokenizer, WordPiece; `[CLS] … [SEP]`. */
export function wordPieceJson(vocab: string[], uncased: boolean): object {
  return {
    version: '1.0',
    added_tokens: BERT_SPECIALS.map((t, i) => special(i, t)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: uncased,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: template('[CLS]', '[SEP]', [2, 3]),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((p, i) => [p, i])),
    },
  };
}
