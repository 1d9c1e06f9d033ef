import * as tf from '@tensorflow/tfjs-core';

import { MclipTextModel } from '../models/mclip/index.ts';
import {
  checkDim,
  encodeInBatches,
  hashFiles,
  spaceDim,
  splitRows,
  type TextEncoder,
} from './encoder.ts';
import { HfTokenizer } from './hf-tokenizer.ts';
import { readEncoderFolder } from './model-folder.ts';
import type { Script } from './script.ts';

/** How a multilingual encoder folder is loaded and described. */
export interface MultilingualLoadOptions {
  /** the CLIP model whose space the encoder maps into, e.g. 'ViT-B/32' */
  space: string;
  /** the space's embedding size when it is not a standard CLIP model (the tiny demo spaces) */
  spaceDim?: number;
  id?: string;
  languages?: readonly string[] | 'any';
  scripts?: readonly Script[] | 'any';
  /** texts per forward pass */
  batchSize?: number;
}

/**
 * A Multilingual-CLIP or sentence-transformers encoder run in tfjs.
 *
 * @example
 * const enc = await MclipEncoder.load('models/M-CLIP-XLM-R-L-B32', { space: 'ViT-B/32' });
 * const [v] = await enc.encode(['ブロンズ像']); // Float32Array(512)
 */
export class MclipEncoder implements TextEncoder {
  readonly kind = 'multilingual' as const;
  readonly id: string;
  readonly space: string;
  readonly dim: number;
  readonly languages: readonly string[] | 'any';
  readonly scripts: readonly Script[] | 'any';
  readonly stripsMarks: boolean;
  readonly weightsHash: string;
  readonly model: MclipTextModel;
  readonly tokenizer: HfTokenizer;
  private readonly batchSize: number;

  private constructor(
    model: MclipTextModel,
    tokenizer: HfTokenizer,
    weightsHash: string,
    opts: MultilingualLoadOptions & { id: string },
  ) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.id = opts.id;
    this.space = opts.space;
    this.dim = spaceDim(opts.space, opts.spaceDim);
    checkDim(this.id, this.space, this.dim, model.config.outDim);
    this.languages = opts.languages ?? 'any';
    this.scripts = opts.scripts ?? 'any';
    this.stripsMarks = tokenizer.stripsMarks;
    this.weightsHash = weightsHash;
    this.batchSize = opts.batchSize ?? 16;
  }

  /** Loads an M-CLIP or sentence-transformers folder; the head must map into `opts.space`. */
  static async load(dir: string, opts: MultilingualLoadOptions): Promise<MclipEncoder> {
    const folder = readEncoderFolder(dir);
    const model = MclipTextModel.fromParts(folder.transformer, folder.head, folder.config);
    const tokenizer = HfTokenizer.load(folder.tokenizerDir, model.config.padId);
    const id = opts.id ?? `${folder.layout}:${dir.split('/').filter(Boolean).pop()}`;
    try {
      return new MclipEncoder(model, tokenizer, hashFiles(folder.weightFiles), { ...opts, id });
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /** Largest token count one text may have (positions the model has learned). */
  get maxTokens(): number {
    const { maxPositions, architecture } = this.model.config;
    return architecture === 'xlm-roberta' ? maxPositions - 2 : maxPositions;
  }

  countTokens(text: string): number {
    return this.tokenizer.tokenize(text).length;
  }

  encode(texts: string[]): Promise<Float32Array[]> {
    return encodeInBatches(texts, this.batchSize, (chunk) => this.encodeChunk(chunk));
  }

  dispose(): void {
    this.model.dispose();
  }

  private async encodeChunk(texts: string[]): Promise<Float32Array[]> {
    const b = this.tokenizer.encodeBatch(texts, this.maxTokens);
    const emb = tf.tidy(() => {
      const ids = tf.tensor2d(b.inputIds, [b.batch, b.length], 'int32');
      const mask = tf.tensor2d(b.attentionMask, [b.batch, b.length], 'int32');
      return this.model.encode(ids, mask); // [batch, dim]
    });
    const flat = (await emb.data()) as Float32Array;
    emb.dispose();
    checkDim(this.id, this.space, this.dim, emb.shape[1]);
    return splitRows(flat, texts.length, this.dim);
  }
}
