import onnxProto from 'onnx-proto';

import type { RawTensor } from '../weights/safetensors.ts';

const { onnx } = onnxProto;
type Node = InstanceType<typeof onnx.NodeProto>;
type Tensor = InstanceType<typeof onnx.TensorProto>;

/** A node attribute: one int, one float or a list of ints. */
export type Attr = { name: string; i?: number; f?: number; ints?: number[] };

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;
/** LayerNormalization became a standard op in opset 17. */
export const ONNX_OPSET = 17;

/** A dense layer's weights as PyTorch stores them: weight [out, in], bias [out]. */
export interface RawLinear {
  weight: RawTensor;
  bias?: RawTensor;
}

/**
 * Builds an ONNX graph node by node: every op returns the name of its output, weights become
 * initializers. The transformer pieces here are shared by the M-CLIP and CLIP text exports.
 */
export class OnnxGraph {
  private readonly nodes: Node[] = [];
  private readonly inits: Tensor[] = [];
  private count = 0;

  /** Adds a node and returns its (single) output name. */
  op(type: string, inputs: string[], attrs: Attr[] = []): string {
    const out = `${type.toLowerCase()}_${this.count++}`;
    this.nodes.push(this.node(type, inputs, [out], attrs));
    return out;
  }

  /** A float32 initializer. */
  floats(data: ArrayLike<number>, dims: number[], name = `const_${this.count++}`): string {
    const bytes = new Uint8Array(Float32Array.from(data).buffer);
    this.inits.push(onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: bytes }));
    return name;
  }

  /** An int64 initializer. */
  int64s(values: number[], dims: number[]): string {
    const name = `const_${this.count++}`;
    const bytes = new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
    this.inits.push(onnx.TensorProto.create({ name, dataType: INT64, dims, rawData: bytes }));
    return name;
  }

  /** A stored tensor as an initializer under its own name. */
  tensor(t: RawTensor, name: string): string {
    return this.floats(t.data, t.shape, name);
  }

  /** [in, out] initializer from a PyTorch [out, in] weight, for MatMul. */
  transposed(t: RawTensor): string {
    const [rows, cols] = t.shape;
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
    }
    return this.floats(out, [cols, rows]);
  }

  /** x·Wᵀ + b over the last axis. */
  linear(x: string, l: RawLinear): string {
    const y = this.op('MatMul', [x, this.transposed(l.weight)]);
    return l.bias ? this.op('Add', [y, this.floats(l.bias.data, l.bias.shape)]) : y;
  }

  layerNorm(x: string, weight: RawTensor, bias: RawTensor, eps: number): string {
    const attrs = [
      { name: 'axis', i: -1 },
      { name: 'epsilon', f: eps },
    ];
    const w = this.floats(weight.data, weight.shape);
    return this.op('LayerNormalization', [x, w, this.floats(bias.data, bias.shape)], attrs);
  }

  /**
   * Multi-head self-attention on [b, L, d] with an additive bias broadcast to [b, h, L, L]
   * (padding or causal mask).
   */
  attention(
    x: string,
    w: Record<'query' | 'key' | 'value' | 'output', RawLinear>,
    heads: number,
    d: number,
    bias: string,
  ): string {
    const dh = d / heads;
    const shape = this.int64s([0, 0, heads, dh], [4]);
    const split = (t: string, perm: number[]) =>
      this.op('Transpose', [this.op('Reshape', [t, shape])], [{ name: 'perm', ints: perm }]);
    const q = split(this.linear(x, w.query), [0, 2, 1, 3]); // [b, h, L, dh]
    const kT = split(this.linear(x, w.key), [0, 2, 3, 1]); // [b, h, dh, L]
    const v = split(this.linear(x, w.value), [0, 2, 1, 3]);
    const scale = this.floats([1 / Math.sqrt(dh)], []);
    const scores = this.op('Add', [this.op('Mul', [this.op('MatMul', [q, kT]), scale]), bias]);
    const probs = this.op('Softmax', [scores], [{ name: 'axis', i: -1 }]);
    const ctx = this.op('MatMul', [probs, v]); // [b, h, L, dh]
    const perm = [{ name: 'perm', ints: [0, 2, 1, 3] }];
    const merged = this.op('Reshape', [
      this.op('Transpose', [ctx], perm),
      this.int64s([0, 0, d], [3]),
    ]);
    return this.linear(merged, w.output);
  }

  /** Exact GELU by its definition, x·½(1 + erf(x/√2)); the Gelu op only arrived in opset 20. */
  geluErf(x: string): string {
    const erf = this.op('Erf', [this.op('Mul', [x, this.floats([Math.SQRT1_2], [])])]);
    const onePlus = this.op('Add', [erf, this.floats([1], [])]);
    return this.op('Mul', [this.op('Mul', [x, onePlus]), this.floats([0.5], [])]);
  }

  /**
   * Serialises the model. `inputs` are int64 [batch, sequence]; each output is float32 with
   * `rank` dims, symbolic except the last when given.
   */
  encode(
    name: string,
    inputs: string[],
    outputs: { name: string; value: string; rank: number }[],
  ): Uint8Array {
    const dims = ['batch', 'sequence', 'hidden'];
    const info = (n: string, elemType: number, rank: number) =>
      onnx.ValueInfoProto.create({
        name: n,
        type: {
          tensorType: {
            elemType,
            shape: { dim: Array.from({ length: rank }, (_, i) => ({ dimParam: dims[i] })) },
          },
        },
      });
    for (const o of outputs) this.nodes.push(this.node('Identity', [o.value], [o.name]));
    const graph = onnx.GraphProto.create({
      name,
      node: this.nodes,
      initializer: this.inits,
      input: inputs.map((n) => info(n, INT64, 2)),
      output: outputs.map((o) => info(o.name, FLOAT, o.rank)),
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'nadabot',
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private node(type: string, inputs: string[], outputs: string[], attrs: Attr[] = []): Node {
    const kinds = onnx.AttributeProto.AttributeType;
    const attribute = attrs.map((a) => {
      if (a.ints) return { name: a.name, type: kinds.INTS, ints: a.ints };
      if (a.f !== undefined) return { name: a.name, type: kinds.FLOAT, f: a.f };
      return { name: a.name, type: kinds.INT, i: a.i };
    });
    return onnx.NodeProto.create({
      opType: type,
      input: inputs,
      output: outputs,
      name: outputs[0],
      attribute,
    });
  }
}
