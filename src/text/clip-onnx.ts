import * as ort from 'onnxruntime-node';

import { NadaError } from '../errors.ts';
import { ClipTokenizer, EOT_TOKEN, SOT_TOKEN, type ClipConfig } from '../models/clip/index.ts';
import { FLOAT, OnnxGraph, type RawLinear } from '../models/mclip/index.ts';
import { readSafetensors, type RawTensor } from '../models/weights/safetensors.ts';
import { checkDim, hashFiles, splitRows, type TextEncoder } from './encoder.ts';

/** CLIP's text tower in one naming, whichever the file used. */
interface ClipTextWeights {
  tokenEmb: RawTensor; // [vocab, width]
  posEmb: RawTensor; // [context, width]
  blocks: {
    ln1: [RawTensor, RawTensor];
    attn: Record<'query' | 'key' | 'value' | 'output', RawLinear>;
    ln2: [RawTensor, RawTensor];
    fc1: RawLinear;
    fc2: RawLinear;
  }[];
  lnFinal: [RawTensor, RawTensor];
  projection: RawLinear; // weight [embed, width]
}

const LN_EPS = 1e-5;

/**
 * Writes CLIP's text encoder (OpenAI or Hugging Face weight names) as an ONNX graph: input
 * `input_ids` int64 [batch, n] with n ≤ context length, output `text_embeds` [batch, embed].
 * Same math as `encode_text`: pre-LN blocks under a causal mask, quick-GELU, the final
 * LayerNorm at each row's EOT (its largest id), then the projection.
 */
export function exportClipTextOnnx(
  tensors: Map<string, RawTensor>,
  config: ClipConfig,
): Uint8Array {
  const w = clipTextWeights(tensors, config);
  const g = new OnnxGraph();
  const width = config.textWidth;

  // Step 1: the first n positions of the table and of the causal mask, n = the input's length.
  const n = g.op('Slice', [g.op('Shape', ['input_ids']), g.int64s([1], [1]), g.int64s([2], [1])]);
  const pos = g.op('Slice', [
    g.tensor(w.posEmb, 'positional_embedding'),
    g.int64s([0], [1]),
    n,
    g.int64s([0], [1]),
  ]);
  const nn = g.op('Concat', [n, n], [{ name: 'axis', i: 0 }]);
  const mask = g.op('Slice', [
    causalMask(g, config.contextLength),
    g.int64s([0, 0], [2]),
    nn,
    g.int64s([0, 1], [2]),
  ]);

  // Step 2: token + position embeddings, then the residual blocks.
  let x = g.op('Add', [
    g.op('Gather', [g.tensor(w.tokenEmb, 'token_embedding'), 'input_ids']),
    pos,
  ]);
  for (const b of w.blocks) {
    const attn = g.attention(
      g.layerNorm(x, ...b.ln1, LN_EPS),
      b.attn,
      config.textHeads,
      width,
      mask,
    );
    x = g.op('Add', [x, attn]);
    const h = g.linear(g.layerNorm(x, ...b.ln2, LN_EPS), b.fc1);
    x = g.op('Add', [x, g.linear(quickGelu(g, h), b.fc2)]);
  }

  // Step 3: pick each row at its EOT (one-hot of the largest id), final LayerNorm, projection.
  const maxId = g.op(
    'ReduceMax',
    ['input_ids'],
    [
      { name: 'axes', ints: [1] },
      { name: 'keepdims', i: 1 },
    ],
  );
  const atEot = g.op('Cast', [g.op('Equal', ['input_ids', maxId])], [{ name: 'to', i: FLOAT }]);
  const picked = g.op('MatMul', [g.op('Unsqueeze', [atEot, g.int64s([1], [1])]), x]); // [b, 1, w]
  const pooled = g.op('Reshape', [picked, g.int64s([0, width], [2])]);
  const out = g.linear(g.layerNorm(pooled, ...w.lnFinal, LN_EPS), w.projection);
  return g.encode(
    'nadabot-clip-text',
    ['input_ids'],
    [{ name: 'text_embeds', value: out, rank: 2 }],
  );
}

// 0 on and below the diagonal, −1e30 above (OpenAI fills −inf; the softmax gives the same 0).
function causalMask(g: OnnxGraph, size: number): string {
  const m = new Float32Array(size * size);
  for (let i = 0; i < size; i++) m.fill(-1e30, i * size + i + 1, (i + 1) * size);
  return g.floats(m, [size, size]);
}

function quickGelu(g: OnnxGraph, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.floats([1.702], [])])])]);
}

function clipTextWeights(t: Map<string, RawTensor>, c: ClipConfig): ClipTextWeights {
  return t.has('token_embedding.weight') ? openAiWeights(t, c) : hfWeights(t, c);
}

function need(t: Map<string, RawTensor>, name: string): RawTensor {
  const v = t.get(name);
  if (!v) throw new NadaError('weights.mismatch', `CLIP weights lack "${name}"`, { name });
  return v;
}

function openAiWeights(t: Map<string, RawTensor>, c: ClipConfig): ClipTextWeights {
  const w = c.textWidth;
  const rows = (x: RawTensor, i: number): RawTensor => {
    const per = x.shape.length === 2 ? w * x.shape[1] : w;
    const shape = x.shape.length === 2 ? [w, x.shape[1]] : [w];
    return { dtype: 'F32', shape, data: x.data.slice(i * per, (i + 1) * per) };
  };
  const ln = (p: string): [RawTensor, RawTensor] => [need(t, `${p}.weight`), need(t, `${p}.bias`)];
  const lin = (p: string): RawLinear => ({
    weight: need(t, `${p}.weight`),
    bias: need(t, `${p}.bias`),
  });
  const blocks = Array.from({ length: c.textLayers }, (_, i) => {
    const p = `transformer.resblocks.${i}.`;
    const [inW, inB] = [need(t, `${p}attn.in_proj_weight`), need(t, `${p}attn.in_proj_bias`)];
    const part = (k: number): RawLinear => ({ weight: rows(inW, k), bias: rows(inB, k) });
    const attn = { query: part(0), key: part(1), value: part(2), output: lin(`${p}attn.out_proj`) };
    return {
      ln1: ln(`${p}ln_1`),
      attn,
      ln2: ln(`${p}ln_2`),
      fc1: lin(`${p}mlp.c_fc`),
      fc2: lin(`${p}mlp.c_proj`),
    };
  });
  const proj = need(t, 'text_projection'); // [width, embed]: x·P, so the Linear weight is Pᵀ
  return {
    tokenEmb: need(t, 'token_embedding.weight'),
    posEmb: need(t, 'positional_embedding'),
    blocks,
    lnFinal: ln('ln_final'),
    projection: { weight: transpose(proj) },
  };
}

function hfWeights(t: Map<string, RawTensor>, c: ClipConfig): ClipTextWeights {
  const ln = (p: string): [RawTensor, RawTensor] => [need(t, `${p}.weight`), need(t, `${p}.bias`)];
  const lin = (p: string): RawLinear => ({
    weight: need(t, `${p}.weight`),
    bias: need(t, `${p}.bias`),
  });
  const blocks = Array.from({ length: c.textLayers }, (_, i) => {
    const p = `text_model.encoder.layers.${i}.`;
    const attn = {
      query: lin(`${p}self_attn.q_proj`),
      key: lin(`${p}self_attn.k_proj`),
      value: lin(`${p}self_attn.v_proj`),
      output: lin(`${p}self_attn.out_proj`),
    };
    return {
      ln1: ln(`${p}layer_norm1`),
      attn,
      ln2: ln(`${p}layer_norm2`),
      fc1: lin(`${p}mlp.fc1`),
      fc2: lin(`${p}mlp.fc2`),
    };
  });
  return {
    tokenEmb: need(t, 'text_model.embeddings.token_embedding.weight'),
    posEmb: need(t, 'text_model.embeddings.position_embedding.weight'),
    blocks,
    lnFinal: ln('text_model.final_layer_norm'),
    projection: { weight: need(t, 'text_projection.weight') },
  };
}

function transpose(x: RawTensor): RawTensor {
  const [r, c] = x.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x.data[i * c + j];
  return { dtype: 'F32', shape: [c, r], data: out };
}

/**
 * CLIP's own text encoder run by onnxruntime from the same weights: far faster than the
 * pure-JS tfjs backend on a CPU host (embedding the understood-as list, routing previews).
 * It gives the vectors `ClipTextEncoder` gives, so both share caches (same weights hash).
 *
 * @example
 * const enc = await ClipOnnxTextEncoder.load('clip-vit-b-32.safetensors', CLIP_CONFIGS['ViT-B/32'], 'ViT-B/32');
 */
export class ClipOnnxTextEncoder implements TextEncoder {
  readonly kind = 'clip' as const;
  readonly languages = ['en'] as const;
  readonly scripts = ['Latin'] as const;
  readonly stripsMarks = false;
  readonly dim: number;
  private readonly context: number;

  private constructor(
    readonly id: string,
    readonly space: string,
    readonly weightsHash: string,
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: ClipTokenizer,
    config: ClipConfig,
  ) {
    this.dim = config.embedDim;
    this.context = config.contextLength;
  }

  /** Reads a CLIP safetensors file (OpenAI or HF names) and builds the session. */
  static async load(path: string, config: ClipConfig, space: string): Promise<ClipOnnxTextEncoder> {
    const tensors = readSafetensors(path).tensors;
    return ClipOnnxTextEncoder.fromTensors(tensors, config, {
      space,
      weightsHash: hashFiles([path]),
    });
  }

  static async fromTensors(
    tensors: Map<string, RawTensor>,
    config: ClipConfig,
    opts: { space: string; weightsHash: string; id?: string; executionProviders?: string[] },
  ): Promise<ClipOnnxTextEncoder> {
    const session = await ort.InferenceSession.create(exportClipTextOnnx(tensors, config), {
      executionProviders: opts.executionProviders ?? ['cpu'],
    });
    const id = opts.id ?? `clip-onnx:${opts.space}`;
    return new ClipOnnxTextEncoder(
      id,
      opts.space,
      opts.weightsHash,
      session,
      ClipTokenizer.load(),
      config,
    );
  }

  /** CLIP's context length (77). */
  get maxTokens(): number {
    return this.context;
  }

  /** SOT + BPE ids + EOT. */
  countTokens(text: string): number {
    return this.tokenizer.encode(text).length + 2;
  }

  async encode(texts: string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    // Token rows built here rather than by tokenize(), which makes a tfjs tensor.
    const ids = new Int32Array(texts.length * this.context);
    texts.forEach((text, row) => {
      const bpe = this.tokenizer.encode(text);
      if (bpe.length + 2 > this.context) {
        throw new NadaError(
          'text.too_long',
          `"${text.slice(0, 40)}…" is ${bpe.length + 2} tokens, CLIP takes at most ${this.context}: shorten it`,
          { tokens: bpe.length + 2, limit: this.context },
        );
      }
      ids.set([SOT_TOKEN, ...bpe, EOT_TOKEN], row * this.context);
    });
    return this.encodeTokens(ids, texts.length, this.context);
  }

  /** Runs token ids [b, context] (SOT … EOT, zero padded), cut after the batch's last EOT. */
  async encodeTokens(ids: Int32Array, b: number, context: number): Promise<Float32Array[]> {
    const n = lastEot(ids, b, context) + 1;
    const cut = new BigInt64Array(b * n);
    for (let r = 0; r < b; r++) {
      for (let i = 0; i < n; i++) cut[r * n + i] = BigInt(ids[r * context + i]);
    }
    const out = await this.session.run({ input_ids: new ort.Tensor('int64', cut, [b, n]) });
    const emb = out.text_embeds;
    checkDim(this.id, this.space, this.dim, emb.dims[1] as number);
    return splitRows(emb.data as Float32Array, b, this.dim);
  }

  dispose(): void {
    void this.session.release();
  }
}

// Position of the largest id (EOT) in each row, the latest over the batch.
function lastEot(ids: Int32Array, b: number, context: number): number {
  let last = 0;
  for (let r = 0; r < b; r++) {
    let best = 0;
    for (let i = 1; i < context; i++) if (ids[r * context + i] > ids[r * context + best]) best = i;
    last = Math.max(last, best);
  }
  return last;
}
