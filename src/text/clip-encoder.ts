import * as tf from '@tensorflow/tfjs-core';

import { ClipModel, ClipTokenizer, type ClipConfig } from '../models/clip/index.ts';
import { checkDim, encodeInBatches, hashFiles, splitRows, type TextEncoder } from './encoder.ts';

/** What CLIP's own encoder needs to know beyond the model. */
export interface ClipEncoderOptions {
  /** the CLIP model's name, which is the space: 'ViT-B/32' */
  space: string;
  /** hash of the weights; `load` computes it from the file */
  weightsHash: string;
  id?: string;
  batchSize?: number;
}

/**
 * CLIP's own text transformer (English, byte-level BPE, 77 tokens) as a `TextEncoder`: the
 * encoder NADA itself uses, and the one the understood-as list is embedded with.
 *
 * @example
 * const enc = await ClipTextEncoder.load('clip-vit-b-32.safetensors', CLIP_CONFIGS['ViT-B/32'], 'ViT-B/32');
 * const [v] = await enc.encode(['bronze statue']); // Float32Array(512)
 */
export class ClipTextEncoder implements TextEncoder {
  readonly kind = 'clip' as const;
  readonly id: string;
  readonly space: string;
  readonly dim: number;
  readonly languages = ['en'] as const;
  readonly scripts = ['Latin'] as const;
  readonly stripsMarks = false;
  readonly weightsHash: string;
  readonly model: ClipModel;
  readonly tokenizer: ClipTokenizer;
  private readonly batchSize: number;
  private readonly ownsModel: boolean;

  /** Wraps a loaded model; `dispose` leaves it alive unless `ownsModel` (the engine shares it). */
  constructor(
    model: ClipModel,
    tokenizer: ClipTokenizer,
    opts: ClipEncoderOptions & { ownsModel?: boolean },
  ) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.space = opts.space;
    this.id = opts.id ?? `clip:${opts.space}`;
    this.dim = model.config.embedDim;
    this.weightsHash = opts.weightsHash;
    this.batchSize = opts.batchSize ?? 32;
    this.ownsModel = opts.ownsModel ?? false;
  }

  /** Loads the CLIP weights (safetensors, OpenAI or HF names) and the bundled BPE vocabulary. */
  static async load(path: string, config: ClipConfig, space: string): Promise<ClipTextEncoder> {
    const model = await ClipModel.load(path, config);
    return new ClipTextEncoder(model, ClipTokenizer.load(), {
      space,
      weightsHash: hashFiles([path]),
    });
  }

  /** CLIP's context length (77). */
  get maxTokens(): number {
    return this.model.config.contextLength;
  }

  /** SOT + BPE ids + EOT. */
  countTokens(text: string): number {
    return this.tokenizer.encode(text).length + 2;
  }

  /** Tokenizes (more than 77 tokens → `text.too_long`) and runs the text transformer. */
  encode(texts: string[]): Promise<Float32Array[]> {
    return encodeInBatches(texts, this.batchSize, async (chunk) => {
      const emb = tf.tidy(() => this.model.encodeText(this.tokenizer.tokenize(chunk))); // [n, dim]
      try {
        checkDim(this.id, this.space, this.dim, emb.shape[1]);
        const flat = (await emb.data()) as Float32Array;
        return splitRows(flat, chunk.length, this.dim);
      } finally {
        emb.dispose();
      }
    });
  }

  dispose(): void {
    if (this.ownsModel) this.model.dispose();
  }
}
