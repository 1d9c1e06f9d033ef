import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../../errors.ts';
import type { RawTensor } from '../weights/safetensors.ts';
import { mclipConfigFrom, type MclipConfig } from './config.ts';
import {
  geluErf,
  keyMaskBias,
  layerNorm,
  linear,
  maskedMeanPool,
  selfAttention,
  type AttentionWeights,
  type LayerNormWeights,
  type Linear,
} from './layers.ts';

/** What one forward pass returns; the caller disposes the tensors. */
export interface MclipOutput {
  lastHiddenState: tf.Tensor3D; // [batch, L, hidden]
  pooled: tf.Tensor2D; // [batch, hidden]
  embedding: tf.Tensor2D; // [batch, outDim]
}

interface EncoderLayer {
  attention: AttentionWeights;
  attentionNorm: LayerNormWeights;
  ffnIn: Linear;
  ffnOut: Linear;
  outputNorm: LayerNormWeights;
}

/** The linear head's weights as stored: [outDim, hidden] and [outDim]. */
export interface HeadTensors {
  weight: RawTensor;
  bias?: RawTensor;
}

const HEAD_NAMES = [
  ['LinearTransformation.weight', 'LinearTransformation.bias'],
  ['linear.weight', 'linear.bias'],
] as const;

/**
 * A frozen Multilingual-CLIP text encoder (XLM-R, BERT or DistilBERT base + mean pooling +
 * linear head), matching `multilingual_clip.pt_multilingual_clip.MultilingualCLIP`.
 *
 * @example
 * const model = MclipTextModel.fromTensors(readSafetensors('tiny-mclip-xlmr.safetensors').tensors,
 *   { model_type: 'xlm-roberta', num_attention_heads: 4 });
 * model.forward(ids, mask).embedding.shape; // [3, 48]
 */
export class MclipTextModel {
  readonly config: MclipConfig;
  /** the transformer's weights under their base-model names (`embeddings.…`, `encoder.layer.N.…`) */
  readonly weights: Map<string, RawTensor>;
  readonly head: HeadTensors;
  private readonly t = new Map<string, tf.Tensor>();
  private readonly layerWeights: EncoderLayer[];

  private constructor(config: MclipConfig, weights: Map<string, RawTensor>, head: HeadTensors) {
    this.config = config;
    this.weights = weights;
    this.head = head;
    for (const [name, raw] of weights) this.t.set(name, toTensor(raw));
    this.t.set('head.weight', toTensor(head.weight));
    if (head.bias) this.t.set('head.bias', toTensor(head.bias));
    this.layerWeights = Array.from({ length: config.layers }, (_, i) => this.layer(i));
  }

  /**
   * From an M-CLIP state dict (`transformer.*` + `LinearTransformation.*`) or any dict whose
   * transformer keys share a prefix ending before `embeddings.word_embeddings.weight`.
   * `json` is the config.json content (base config and/or M-CLIP fields).
   */
  static fromTensors(tensors: Map<string, RawTensor>, json: Record<string, unknown> = {}) {
    const head = findHead(tensors);
    if (!head) {
      throw new NadaError(
        'encoder.head_missing',
        'the weights have no linear head (LinearTransformation.weight or linear.weight): ' +
          'this is a bare transformer, not a CLIP-space text encoder',
        { names: [...tensors.keys()].slice(0, 8) },
      );
    }
    return MclipTextModel.fromParts(stripTransformerPrefix(tensors), head, json);
  }

  /** From the bare transformer's weights and a separate head (sentence-transformers' Dense). */
  static fromParts(
    transformer: Map<string, RawTensor>,
    head: HeadTensors,
    json: Record<string, unknown> = {},
  ): MclipTextModel {
    const weights = stripTransformerPrefix(transformer);
    const config = mclipConfigFrom(json, weights, head);
    return new MclipTextModel(config, weights, head);
  }

  /**
   * Position ids as the base model computes them: XLM-R counts non-pad tokens starting after
   * the pad id (first real token gets padId + 1, pads get padId); BERT/DistilBERT use 0..L−1.
   */
  positionIds(inputIds: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, l] = inputIds.shape;
      if (this.config.architecture !== 'xlm-roberta') {
        return tf.tile(tf.expandDims(tf.range(0, l, 1, 'int32'), 0), [b, 1]) as tf.Tensor2D;
      }
      const notPad = tf.cast(tf.notEqual(inputIds, this.config.padId), 'int32'); // [b, L]
      const pos = tf.add(tf.mul(tf.cumsum(notPad, 1), notPad), this.config.padId);
      return tf.cast(pos, 'int32') as tf.Tensor2D; // cumsum comes back as float32 on cpu
    });
  }

  /** Runs the encoder: int32 ids and mask [batch, L] → hidden states, pooled, CLIP-space embedding. */
  forward(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): MclipOutput {
    this.checkIds(inputIds);
    return tf.tidy(() => {
      let x = this.embed(inputIds); // [b, L, hidden]
      const bias = keyMaskBias(attentionMask);
      for (const layer of this.layerWeights) x = this.encoderLayer(x, layer, bias);
      const pooled = maskedMeanPool(x, attentionMask);
      const embedding = linear(pooled, this.headLinear()) as tf.Tensor2D;
      return { lastHiddenState: x, pooled, embedding };
    });
  }

  /** Just the CLIP-space embedding: [batch, outDim]. */
  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor2D {
    const out = this.forward(inputIds, attentionMask);
    out.lastHiddenState.dispose();
    out.pooled.dispose();
    return out.embedding;
  }

  dispose(): void {
    for (const t of this.t.values()) t.dispose();
    this.t.clear();
  }

  private embed(ids: tf.Tensor2D): tf.Tensor3D {
    const pos = this.positionIds(ids);
    let x = tf.gather(this.w('embeddings.word_embeddings.weight'), ids); // [b, L, hidden]
    x = tf.add(x, tf.gather(this.w('embeddings.position_embeddings.weight'), pos));
    pos.dispose();
    if (this.config.typeVocab > 0) {
      // Token type 0 everywhere: M-CLIP never passes token_type_ids.
      const types = this.w('embeddings.token_type_embeddings.weight');
      x = tf.add(x, tf.reshape(tf.slice(types, [0, 0], [1, this.config.hidden]), [-1]));
    }
    return layerNorm(x, this.norm('embeddings.LayerNorm'), this.config.layerNormEps) as tf.Tensor3D;
  }

  // Post-LN block, the same for all three families: x = LN(x + attn(x)); x = LN(x + ffn(x)).
  private encoderLayer(x: tf.Tensor3D, w: EncoderLayer, bias: tf.Tensor4D): tf.Tensor3D {
    const eps = this.config.layerNormEps;
    const attn = selfAttention(x, w.attention, this.config.heads, bias);
    const h = layerNorm(tf.add(x, attn), w.attentionNorm, eps);
    const ffn = linear(geluErf(linear(h, w.ffnIn)), w.ffnOut);
    return layerNorm(tf.add(h, ffn), w.outputNorm, eps) as tf.Tensor3D;
  }

  private layer(i: number): EncoderLayer {
    if (this.config.architecture === 'distilbert') {
      const p = `transformer.layer.${i}.`;
      return {
        attention: {
          query: this.lin(`${p}attention.q_lin`),
          key: this.lin(`${p}attention.k_lin`),
          value: this.lin(`${p}attention.v_lin`),
          output: this.lin(`${p}attention.out_lin`),
        },
        attentionNorm: this.norm(`${p}sa_layer_norm`),
        ffnIn: this.lin(`${p}ffn.lin1`),
        ffnOut: this.lin(`${p}ffn.lin2`),
        outputNorm: this.norm(`${p}output_layer_norm`),
      };
    }
    const p = `encoder.layer.${i}.`;
    return {
      attention: {
        query: this.lin(`${p}attention.self.query`),
        key: this.lin(`${p}attention.self.key`),
        value: this.lin(`${p}attention.self.value`),
        output: this.lin(`${p}attention.output.dense`),
      },
      attentionNorm: this.norm(`${p}attention.output.LayerNorm`),
      ffnIn: this.lin(`${p}intermediate.dense`),
      ffnOut: this.lin(`${p}output.dense`),
      outputNorm: this.norm(`${p}output.LayerNorm`),
    };
  }

  private headLinear(): Linear {
    return {
      weight: this.w('head.weight') as tf.Tensor2D,
      bias: this.t.get('head.bias') as tf.Tensor1D | undefined,
    };
  }

  private lin(prefix: string): Linear {
    return {
      weight: this.w(`${prefix}.weight`) as tf.Tensor2D,
      bias: this.w(`${prefix}.bias`) as tf.Tensor1D,
    };
  }

  private norm(prefix: string): LayerNormWeights {
    return {
      weight: this.w(`${prefix}.weight`) as tf.Tensor1D,
      bias: this.w(`${prefix}.bias`) as tf.Tensor1D,
    };
  }

  private w(name: string): tf.Tensor {
    const t = this.t.get(name);
    if (!t) {
      throw new NadaError('encoder.weights_missing', `encoder weights lack "${name}"`, { name });
    }
    return t;
  }

  private checkIds(ids: tf.Tensor2D): void {
    const maxLen = this.config.maxPositions - (this.config.architecture === 'xlm-roberta' ? 2 : 0);
    if (ids.shape[1] > maxLen) {
      throw new NadaError(
        'text.too_long',
        `the text is ${ids.shape[1]} tokens, this encoder takes at most ${maxLen}: shorten the prompt`,
        { tokens: ids.shape[1], limit: maxLen },
      );
    }
  }
}

function toTensor(raw: RawTensor): tf.Tensor {
  return tf.tensor(raw.data, raw.shape, raw.dtype === 'I32' ? 'int32' : 'float32');
}

function findHead(tensors: Map<string, RawTensor>): HeadTensors | undefined {
  for (const [w, b] of HEAD_NAMES) {
    const weight = tensors.get(w);
    if (weight) return { weight, bias: tensors.get(b) };
  }
  return undefined;
}

/** Keeps the transformer's weights and removes whatever prefix stands before `embeddings.`. */
export function stripTransformerPrefix(tensors: Map<string, RawTensor>): Map<string, RawTensor> {
  const anchor = [...tensors.keys()].find((k) => k.endsWith('embeddings.word_embeddings.weight'));
  if (anchor === undefined) {
    throw new NadaError(
      'encoder.weights_missing',
      'no "embeddings.word_embeddings.weight" in the weights: not a BERT-family text encoder',
      { names: [...tensors.keys()].slice(0, 8) },
    );
  }
  const prefix = anchor.slice(0, anchor.length - 'embeddings.word_embeddings.weight'.length);
  const out = new Map<string, RawTensor>();
  for (const [name, raw] of tensors) {
    if (!name.startsWith(prefix)) continue;
    const local = name.slice(prefix.length);
    // The pooler is unused by M-CLIP; head names stay with the head.
    if (local.startsWith('pooler.') || HEAD_NAMES.some(([w, b]) => local === w || local === b))
      continue;
    out.set(local, raw);
  }
  return out;
}
