import { existsSync } from 'node:fs';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';

import { NadaError } from '../errors.ts';
import type { HeadTensors } from '../models/mclip/index.ts';
import { checkDim, encodeInBatches, hashFiles, spaceDim, type TextEncoder } from './encoder.ts';
import { HfTokenizer, type TokenBatch } from './hf-tokenizer.ts';
import type { MultilingualLoadOptions } from './mclip-encoder.ts';
import { readHead, readJson } from './model-folder.ts';
import type { Script } from './script.ts';

/** Output names an export may give the CLIP-space vector under. */
const EMBEDDING_OUTPUTS = ['text_embeds', 'embedding', 'sentence_embedding'];

export interface OnnxLoadOptions extends MultilingualLoadOptions {
  /** onnxruntime execution providers, e.g. ['cuda', 'cpu'] on a GPU host; default ['cpu'] */
  executionProviders?: string[];
}

/**
 * A multilingual encoder exported to ONNX and run by onnxruntime-node (frozen, no gradients).
 * The folder holds `onnx/model.onnx` (or `model.onnx`), `tokenizer.json` and `config.json`.
 * A graph that returns only `last_hidden_state` is mean-pooled here and mapped by the linear
 * head read from the folder's `model.safetensors` (`LinearTransformation.*`).
 *
 * @example
 * const enc = await OnnxEncoder.load('models/M-CLIP-XLM-R-L-B32', { space: 'ViT-B/32' });
 */
export class OnnxEncoder implements TextEncoder {
  readonly kind = 'multilingual' as const;
  readonly id: string;
  readonly space: string;
  readonly dim: number;
  readonly languages: readonly string[] | 'any';
  readonly scripts: readonly Script[] | 'any';
  readonly stripsMarks: boolean;
  readonly weightsHash: string;
  readonly maxTokens: number;
  readonly tokenizer: HfTokenizer;
  /** 'graph' when the ONNX graph ends in CLIP space; 'head' when pooling + head run here */
  readonly headIn: 'graph' | 'head';
  private readonly session: ort.InferenceSession;
  private readonly head?: HeadTensors;
  private readonly batchSize: number;

  private constructor(
    parts: { session: ort.InferenceSession; tokenizer: HfTokenizer; head?: HeadTensors },
    meta: { hash: string; maxTokens: number; id: string },
    opts: OnnxLoadOptions,
  ) {
    this.session = parts.session;
    this.tokenizer = parts.tokenizer;
    this.head = parts.head;
    this.headIn = this.embeddingOutput() ? 'graph' : 'head';
    this.id = meta.id;
    this.space = opts.space;
    this.dim = spaceDim(opts.space, opts.spaceDim);
    this.languages = opts.languages ?? 'any';
    this.scripts = opts.scripts ?? 'any';
    this.stripsMarks = parts.tokenizer.stripsMarks;
    this.weightsHash = meta.hash;
    this.maxTokens = meta.maxTokens;
    this.batchSize = opts.batchSize ?? 16;
  }

  /** Loads the folder, then encodes one probe text to check the output size against the space. */
  static async load(dir: string, opts: OnnxLoadOptions): Promise<OnnxEncoder> {
    const file = [join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx')].find(existsSync);
    if (!file) {
      throw new NadaError(
        'encoder.weights_missing',
        `${dir} has no onnx/model.onnx or model.onnx`,
        { dir },
      );
    }
    const config = readJson(join(dir, 'config.json'));
    const padId = typeof config.pad_token_id === 'number' ? config.pad_token_id : undefined;
    const tokenizer = HfTokenizer.load(dir, padId);
    const session = await ort.InferenceSession.create(file, {
      executionProviders: opts.executionProviders ?? ['cpu'],
    });
    const needsHead = !EMBEDDING_OUTPUTS.some((n) => session.outputNames.includes(n));
    const head = needsHead ? headOf(dir, session) : undefined;
    const hashed = [file, ...(head?.files ?? [])];
    const maxPositions = Number(config.max_position_embeddings ?? 514);
    const maxTokens = config.model_type === 'xlm-roberta' ? maxPositions - 2 : maxPositions;
    const id = opts.id ?? `onnx:${dir.split('/').filter(Boolean).pop()}`;
    const enc = new OnnxEncoder(
      { session, tokenizer, head: head?.head },
      { hash: hashFiles(hashed), maxTokens, id },
      opts,
    );
    try {
      await enc.encode(['a']);
    } catch (err) {
      enc.dispose();
      throw err;
    }
    return enc;
  }

  countTokens(text: string): number {
    return this.tokenizer.tokenize(text).length;
  }

  encode(texts: string[]): Promise<Float32Array[]> {
    return encodeInBatches(texts, this.batchSize, (chunk) => this.encodeChunk(chunk));
  }

  dispose(): void {
    void this.session.release();
  }

  private async encodeChunk(texts: string[]): Promise<Float32Array[]> {
    const b = this.tokenizer.encodeBatch(texts, this.maxTokens);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(b.inputIds, b),
      attention_mask: int64(b.attentionMask, b),
    };
    if (this.session.inputNames.includes('token_type_ids')) {
      feeds.token_type_ids = int64(new Int32Array(b.inputIds.length), b);
    }
    const result = await this.session.run(feeds);
    const name = this.embeddingOutput();
    const rows = name
      ? rowsOf(result[name])
      : pooledHead(result.last_hidden_state, b, this.head as HeadTensors);
    for (const r of rows) checkDim(this.id, this.space, this.dim, r.length);
    return rows;
  }

  private embeddingOutput(): string | undefined {
    return EMBEDDING_OUTPUTS.find((n) => this.session.outputNames.includes(n));
  }
}

function headOf(dir: string, session: ort.InferenceSession) {
  if (!session.outputNames.includes('last_hidden_state')) {
    throw new NadaError(
      'encoder.layout_unsupported',
      `${dir}: the ONNX graph has neither a CLIP-space output (${EMBEDDING_OUTPUTS.join(', ')}) ` +
        `nor last_hidden_state (it has ${session.outputNames.join(', ')})`,
      { dir },
    );
  }
  return readHead(dir);
}

function int64(data: Int32Array, b: TokenBatch): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(data, (v) => BigInt(v)),
    [b.batch, b.length],
  );
}

function rowsOf(t: ort.Tensor): Float32Array[] {
  const [n, dim] = t.dims as number[];
  const data = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.slice(i * dim, (i + 1) * dim));
}

/** Mean of hidden states over the mask, then the head W·p + b, in plain JS: [b, L, d] → [b][out]. */
function pooledHead(hidden: ort.Tensor, b: TokenBatch, head: HeadTensors): Float32Array[] {
  const [, len, d] = hidden.dims as number[];
  const h = hidden.data as Float32Array;
  const [outDim] = head.weight.shape;
  return Array.from({ length: b.batch }, (_, row) => {
    const pooled = new Float64Array(d);
    let count = 0;
    for (let t = 0; t < len; t++) {
      if (b.attentionMask[row * len + t] === 0) continue;
      count++;
      for (let j = 0; j < d; j++) pooled[j] += h[(row * len + t) * d + j];
    }
    const y = new Float32Array(outDim);
    for (let o = 0; o < outDim; o++) {
      let acc = head.bias ? head.bias.data[o] : 0;
      for (let j = 0; j < d; j++) acc += head.weight.data[o * d + j] * (pooled[j] / count);
      y[o] = acc;
    }
    return y;
  });
}
