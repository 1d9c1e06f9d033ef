import type { RawTensor } from '../weights/safetensors.ts';
import type { MclipConfig } from './config.ts';
import type { MclipTextModel } from './mclip-model.ts';
import { FLOAT, INT64, ONNX_OPSET, OnnxGraph, type RawLinear } from './onnx-graph.ts';

/** The opset of nadabot's ONNX exports (LayerNormalization arrived in 17). */
export const MCLIP_ONNX_OPSET = ONNX_OPSET;

/** What the exported graph computes and returns. */
export interface MclipOnnxOptions {
  /**
   * true (default): the whole encoder, with outputs `last_hidden_state`, `mean_pooled` and
   * `text_embeds` (CLIP space). false: the transformer alone (output `last_hidden_state`),
   * as an export of the base model gives; the caller pools and applies the head.
   */
  head?: boolean;
}

/**
 * Writes an M-CLIP text encoder as an ONNX model (opset 17) for onnxruntime: inputs
 * `input_ids` and `attention_mask`, int64 [batch, sequence]. Built node by node from the same
 * weights, so the graph can be checked against the tfjs forward pass.
 *
 * @example
 * writeFileSync('onnx/model.onnx', exportMclipOnnx(model));
 */
export function exportMclipOnnx(model: MclipTextModel, opts: MclipOnnxOptions = {}): Uint8Array {
  const g = new MclipGraph(model.weights, model.config);
  const maskBias = g.maskBias();
  let x = g.embeddings();
  for (let i = 0; i < model.config.layers; i++) x = g.layer(i, x, maskBias);
  const outputs = [{ name: 'last_hidden_state', value: x, rank: 3 }];
  if (opts.head ?? true) {
    const pooled = g.meanPool(x);
    outputs.push({ name: 'mean_pooled', value: pooled, rank: 2 });
    outputs.push({ name: 'text_embeds', value: g.linear(pooled, model.head), rank: 2 });
  }
  return g.encode(
    `nadabot-mclip-${model.config.architecture}`,
    ['input_ids', 'attention_mask'],
    outputs,
  );
}

class MclipGraph extends OnnxGraph {
  constructor(
    private readonly weights: Map<string, RawTensor>,
    private readonly cfg: MclipConfig,
  ) {
    super();
  }

  /** word + position (+ token type 0) embeddings, then LayerNorm: [b, L, hidden]. */
  embeddings(): string {
    const word = this.op('Gather', [this.weight('embeddings.word_embeddings.weight'), 'input_ids']);
    const posTable = this.weight('embeddings.position_embeddings.weight');
    let x = this.op('Add', [word, this.op('Gather', [posTable, this.positionIds()])]);
    if (this.cfg.typeVocab > 0) {
      const row = this.raw('embeddings.token_type_embeddings.weight').data.slice(
        0,
        this.cfg.hidden,
      );
      x = this.op('Add', [x, this.floats(row, [this.cfg.hidden])]);
    }
    return this.norm(x, 'embeddings.LayerNorm');
  }

  // XLM-R: pad id + running count of non-pad tokens (pads keep the pad id); others 0..L−1.
  private positionIds(): string {
    const axis = this.int64s([1], []);
    if (this.cfg.architecture !== 'xlm-roberta') {
      const one = this.int64s([1], []);
      const ones = this.op('Add', [this.op('Mul', ['input_ids', this.int64s([0], [])]), one]);
      return this.op('Sub', [this.op('CumSum', [ones, axis]), one]);
    }
    const pad = this.int64s([this.cfg.padId], []);
    const isPad = this.op('Equal', ['input_ids', pad]);
    const notPad = this.op('Cast', [this.op('Not', [isPad])], [{ name: 'to', i: INT64 }]);
    return this.op('Add', [this.op('Mul', [this.op('CumSum', [notPad, axis]), notPad]), pad]);
  }

  /** 0 for real keys, −1e30 for padded ones: [b, 1, 1, L]. */
  maskBias(): string {
    const maskF = this.op('Cast', ['attention_mask'], [{ name: 'to', i: FLOAT }]);
    const inverted = this.op('Sub', [this.floats([1], []), maskF]);
    const bias = this.op('Mul', [inverted, this.floats([-1e30], [])]);
    return this.op('Unsqueeze', [bias, this.int64s([1, 2], [2])]);
  }

  /** One post-LN encoder block: [b, L, hidden] → [b, L, hidden]. */
  layer(i: number, x: string, maskBias: string): string {
    const n = layerNames(this.cfg, i);
    const w = {
      query: this.lin(n.query),
      key: this.lin(n.key),
      value: this.lin(n.value),
      output: this.lin(n.output),
    };
    const attn = this.attention(x, w, this.cfg.heads, this.cfg.hidden, maskBias);
    const h = this.norm(this.op('Add', [x, attn]), n.attentionNorm);
    const ffn = this.linear(this.geluErf(this.linear(h, this.lin(n.ffnIn))), this.lin(n.ffnOut));
    return this.norm(this.op('Add', [h, ffn]), n.outputNorm);
  }

  /** Mean over positions with mask 1: [b, L, hidden] → [b, hidden]. */
  meanPool(x: string): string {
    const maskF = this.op('Cast', ['attention_mask'], [{ name: 'to', i: FLOAT }]);
    const m = this.op('Unsqueeze', [maskF, this.int64s([2], [1])]); // [b, L, 1]
    const axes = this.int64s([1], [1]);
    const keep0 = [{ name: 'keepdims', i: 0 }];
    const sum = this.op('ReduceSum', [this.op('Mul', [x, m]), axes], keep0);
    return this.op('Div', [sum, this.op('ReduceSum', [m, axes], keep0)]);
  }

  private norm(x: string, prefix: string): string {
    const eps = this.cfg.layerNormEps;
    return this.layerNorm(x, this.raw(`${prefix}.weight`), this.raw(`${prefix}.bias`), eps);
  }

  private lin(prefix: string): RawLinear {
    return { weight: this.raw(`${prefix}.weight`), bias: this.raw(`${prefix}.bias`) };
  }

  private weight(name: string): string {
    return this.tensor(this.raw(name), name);
  }

  private raw(name: string): RawTensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`ONNX export: weights lack ${name}`);
    return t;
  }
}

function layerNames(cfg: MclipConfig, i: number) {
  if (cfg.architecture === 'distilbert') {
    const p = `transformer.layer.${i}.`;
    return {
      query: `${p}attention.q_lin`,
      key: `${p}attention.k_lin`,
      value: `${p}attention.v_lin`,
      output: `${p}attention.out_lin`,
      attentionNorm: `${p}sa_layer_norm`,
      ffnIn: `${p}ffn.lin1`,
      ffnOut: `${p}ffn.lin2`,
      outputNorm: `${p}output_layer_norm`,
    };
  }
  const p = `encoder.layer.${i}.`;
  return {
    query: `${p}attention.self.query`,
    key: `${p}attention.self.key`,
    value: `${p}attention.self.value`,
    output: `${p}attention.output.dense`,
    attentionNorm: `${p}attention.output.LayerNorm`,
    ffnIn: `${p}intermediate.dense`,
    ffnOut: `${p}output.dense`,
    outputNorm: `${p}output.LayerNorm`,
  };
}
