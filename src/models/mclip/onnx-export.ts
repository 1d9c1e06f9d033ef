import onnxProto from 'onnx-proto';

import type { RawTensor } from '../weights/safetensors.ts';
import type { MclipConfig } from './config.ts';
import type { MclipTextModel } from './mclip-model.ts';

const { onnx } = onnxProto;
type Node = InstanceType<typeof onnx.NodeProto>;
type Attr = { name: string; i?: number; f?: number; ints?: number[] };

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
/** LayerNormalization became a standard op in opset 17. */
export const MCLIP_ONNX_OPSET = 17;

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
  const g = new GraphBuilder(model.weights, model.config);
  const cfg = model.config;
  const maskBias = g.maskBias();
  let x = g.embeddings();
  for (let i = 0; i < cfg.layers; i++) x = g.layer(i, x, maskBias);
  const outputs = [['last_hidden_state', x, 3]] as [string, string, number][];
  if (opts.head ?? true) {
    const pooled = g.meanPool(x);
    outputs.push(['mean_pooled', pooled, 2], ['text_embeds', g.head(pooled, model.head), 2]);
  }
  return g.encode(outputs);
}

class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: InstanceType<typeof onnx.TensorProto>[] = [];
  private count = 0;

  constructor(
    private readonly weights: Map<string, RawTensor>,
    private readonly cfg: MclipConfig,
  ) {}

  /** word + position (+ token type 0) embeddings, then LayerNorm: [b, L, hidden]. */
  embeddings(): string {
    const word = this.op('Gather', [this.weight('embeddings.word_embeddings.weight'), 'input_ids']);
    const pos = this.op('Gather', [
      this.weight('embeddings.position_embeddings.weight'),
      this.positionIds(),
    ]);
    let x = this.op('Add', [word, pos]);
    if (this.cfg.typeVocab > 0) {
      const row = this.raw('embeddings.token_type_embeddings.weight').data.slice(
        0,
        this.cfg.hidden,
      );
      x = this.op('Add', [x, this.floats(row, [this.cfg.hidden])]);
    }
    return this.layerNorm(x, 'embeddings.LayerNorm');
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
    const notPad = this.op(
      'Cast',
      [this.op('Not', [this.op('Equal', ['input_ids', pad])])],
      [{ name: 'to', i: INT64 }],
    );
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
    const n = this.names(i);
    const { heads, hidden } = this.cfg;
    const dh = hidden / heads;
    const heads4 = this.int64s([0, 0, heads, dh], [4]);
    const split = (t: string, perm: number[]) =>
      this.op('Transpose', [this.op('Reshape', [t, heads4])], [{ name: 'perm', ints: perm }]);
    const q = split(this.linear(x, n.query), [0, 2, 1, 3]); // [b, h, L, dh]
    const kT = split(this.linear(x, n.key), [0, 2, 3, 1]); // [b, h, dh, L]
    const v = split(this.linear(x, n.value), [0, 2, 1, 3]);
    const scores = this.op('Mul', [
      this.op('MatMul', [q, kT]),
      this.floats([1 / Math.sqrt(dh)], []),
    ]);
    const probs = this.op(
      'Softmax',
      [this.op('Add', [scores, maskBias])],
      [{ name: 'axis', i: -1 }],
    );
    const ctx = this.op(
      'Transpose',
      [this.op('MatMul', [probs, v])],
      [{ name: 'perm', ints: [0, 2, 1, 3] }],
    );
    const merged = this.op('Reshape', [ctx, this.int64s([0, 0, hidden], [3])]);
    const h = this.layerNorm(this.op('Add', [x, this.linear(merged, n.output)]), n.attentionNorm);
    const ffn = this.linear(this.gelu(this.linear(h, n.ffnIn)), n.ffnOut);
    return this.layerNorm(this.op('Add', [h, ffn]), n.outputNorm);
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

  /** The linear map into CLIP space: [b, hidden] → [b, outDim]. */
  head(pooled: string, head: { weight: RawTensor; bias?: RawTensor }): string {
    const y = this.op('MatMul', [pooled, this.transposed(head.weight)]);
    return head.bias ? this.op('Add', [y, this.floats(head.bias.data, head.bias.shape)]) : y;
  }

  encode(outputs: [string, string, number][]): Uint8Array {
    const dims = ['batch', 'sequence', 'hidden'];
    const valueInfo = (name: string, elemType: number, rank: number, last?: number) =>
      onnx.ValueInfoProto.create({
        name,
        type: {
          tensorType: {
            elemType,
            shape: {
              dim: Array.from({ length: rank }, (_, i) =>
                i === rank - 1 && last !== undefined ? { dimValue: last } : { dimParam: dims[i] },
              ),
            },
          },
        },
      });
    for (const [name, value] of outputs) this.nodes.push(this.node('Identity', [value], [name]));
    const graph = onnx.GraphProto.create({
      name: `nadabot-mclip-${this.cfg.architecture}`,
      node: this.nodes,
      initializer: this.inits,
      input: [valueInfo('input_ids', INT64, 2), valueInfo('attention_mask', INT64, 2)],
      output: outputs.map(([name, , rank]) => valueInfo(name, FLOAT, rank)),
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'nadabot',
      opsetImport: [{ domain: '', version: MCLIP_ONNX_OPSET }],
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private linear(x: string, prefix: string): string {
    const y = this.op('MatMul', [x, this.transposed(this.raw(`${prefix}.weight`))]);
    return this.op('Add', [y, this.weight(`${prefix}.bias`)]);
  }

  // Exact GELU by its definition: x·½(1 + erf(x/√2)); the Gelu op only arrived in opset 20.
  private gelu(x: string): string {
    const erf = this.op('Erf', [this.op('Mul', [x, this.floats([Math.SQRT1_2], [])])]);
    const onePlus = this.op('Add', [erf, this.floats([1], [])]);
    return this.op('Mul', [this.op('Mul', [x, onePlus]), this.floats([0.5], [])]);
  }

  private layerNorm(x: string, prefix: string): string {
    const attrs = [
      { name: 'axis', i: -1 },
      { name: 'epsilon', f: this.cfg.layerNormEps },
    ];
    return this.op(
      'LayerNormalization',
      [x, this.weight(`${prefix}.weight`), this.weight(`${prefix}.bias`)],
      attrs,
    );
  }

  private names(i: number) {
    if (this.cfg.architecture === 'distilbert') {
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

  private op(type: string, inputs: string[], attrs: Attr[] = []): string {
    const out = `${type.toLowerCase()}_${this.count++}`;
    this.nodes.push(this.node(type, inputs, [out], attrs));
    return out;
  }

  private node(type: string, inputs: string[], outputs: string[], attrs: Attr[] = []): Node {
    const attribute = attrs.map((a) => {
      if (a.ints)
        return { name: a.name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints };
      if (a.f !== undefined)
        return { name: a.name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.f };
      return { name: a.name, type: onnx.AttributeProto.AttributeType.INT, i: a.i };
    });
    return onnx.NodeProto.create({
      opType: type,
      input: inputs,
      output: outputs,
      name: outputs[0],
      attribute,
    });
  }

  private raw(name: string): RawTensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`ONNX export: weights lack ${name}`);
    return t;
  }

  private weight(name: string): string {
    const t = this.raw(name);
    return this.floats(t.data, t.shape, name);
  }

  // PyTorch stores [out, in]; MatMul wants [in, out].
  private transposed(t: RawTensor): string {
    const [rows, cols] = t.shape;
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
    return this.floats(out, [cols, rows]);
  }

  private floats(data: ArrayLike<number>, dims: number[], name = `const_${this.count++}`): string {
    const bytes = new Uint8Array(Float32Array.from(data).buffer);
    this.inits.push(onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: bytes }));
    return name;
  }

  private int64s(values: number[], dims: number[]): string {
    const name = `const_${this.count++}`;
    const bytes = new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
    this.inits.push(onnx.TensorProto.create({ name, dataType: INT64, dims, rawData: bytes }));
    return name;
  }
}
