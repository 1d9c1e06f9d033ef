import { NadaError } from '../../errors.ts';
import type { RawTensor } from '../weights/safetensors.ts';
import { visionTokens, type ClipConfig } from './config.ts';

/**
 * CLIP weight names. nadabot keeps OpenAI's state-dict names and shapes as its one layout;
 * Hugging Face `CLIPModel` files are mapped onto it here.
 */

/** Every OpenAI key of a ViT CLIP with its expected shape. */
export function openAiShapes(c: ClipConfig): Map<string, number[]> {
  const [vw, tw, e] = [c.visionWidth, c.textWidth, c.embedDim];
  const p = c.visionPatchSize;
  const shapes = new Map<string, number[]>([
    ['visual.class_embedding', [vw]],
    ['visual.positional_embedding', [visionTokens(c), vw]],
    ['visual.conv1.weight', [vw, 3, p, p]],
    ['visual.ln_pre.weight', [vw]],
    ['visual.ln_pre.bias', [vw]],
    ['visual.ln_post.weight', [vw]],
    ['visual.ln_post.bias', [vw]],
    ['visual.proj', [vw, e]],
    ['token_embedding.weight', [c.vocabSize, tw]],
    ['positional_embedding', [c.contextLength, tw]],
    ['ln_final.weight', [tw]],
    ['ln_final.bias', [tw]],
    ['text_projection', [tw, e]],
    ['logit_scale', []],
  ]);
  addBlocks(shapes, 'visual.transformer', c.visionLayers, vw);
  addBlocks(shapes, 'transformer', c.textLayers, tw);
  return shapes;
}

function addBlocks(shapes: Map<string, number[]>, prefix: string, layers: number, w: number) {
  for (let i = 0; i < layers; i++) {
    const b = `${prefix}.resblocks.${i}`;
    shapes.set(`${b}.attn.in_proj_weight`, [3 * w, w]);
    shapes.set(`${b}.attn.in_proj_bias`, [3 * w]);
    shapes.set(`${b}.attn.out_proj.weight`, [w, w]);
    shapes.set(`${b}.attn.out_proj.bias`, [w]);
    shapes.set(`${b}.ln_1.weight`, [w]);
    shapes.set(`${b}.ln_1.bias`, [w]);
    shapes.set(`${b}.mlp.c_fc.weight`, [4 * w, w]);
    shapes.set(`${b}.mlp.c_fc.bias`, [4 * w]);
    shapes.set(`${b}.mlp.c_proj.weight`, [w, 4 * w]);
    shapes.set(`${b}.mlp.c_proj.bias`, [w]);
    shapes.set(`${b}.ln_2.weight`, [w]);
    shapes.set(`${b}.ln_2.bias`, [w]);
  }
}

// Keys that real checkpoints carry but the model does not use.
const IGNORED_OPENAI = new Set(['input_resolution', 'context_length', 'vocab_size']);
const IGNORED_HF = /(^|\.)position_ids$/;

/** Which naming a state dict uses, from a key only that naming has. */
export function detectNaming(tensors: Map<string, RawTensor>): 'openai' | 'hf' {
  if (tensors.has('visual.conv1.weight')) return 'openai';
  if (tensors.has('vision_model.embeddings.patch_embedding.weight')) return 'hf';
  const resnet = tensors.has('visual.layer1.0.conv1.weight');
  throw new NadaError(
    'weights.mismatch',
    resnet
      ? 'these are ResNet CLIP weights; nadabot runs the ViT models only (ViT-B/32, ViT-B/16)'
      : 'no CLIP vision patch embedding found (expected "visual.conv1.weight" or ' +
          '"vision_model.embeddings.patch_embedding.weight"): not a CLIP ViT checkpoint',
    { keys: [...tensors.keys()].slice(0, 10) },
  );
}

/**
 * Checks an OpenAI-named state dict against the config and returns exactly the model's
 * tensors. A missing, unknown or mis-shaped key is a `weights.mismatch`.
 */
export function checkOpenAi(tensors: Map<string, RawTensor>, c: ClipConfig) {
  const shapes = openAiShapes(c);
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of shapes) {
    out.set(key, take(tensors, key, shape));
  }
  rejectUnknown(tensors, (k) => shapes.has(k) || IGNORED_OPENAI.has(k));
  return out;
}

/**
 * Maps a Hugging Face `CLIPModel` state dict onto OpenAI names: q/k/v projections are
 * stacked into `in_proj`, the two projections transposed back to [width, embed].
 */
export function fromHfNames(tensors: Map<string, RawTensor>, c: ClipConfig) {
  const out = new Map<string, RawTensor>();
  const used = new Set<string>();
  for (const [key, shape] of openAiShapes(c)) {
    out.set(key, hfTensor(tensors, key, shape, used));
  }
  rejectUnknown(tensors, (k) => used.has(k) || IGNORED_HF.test(k));
  return out;
}

function hfTensor(
  tensors: Map<string, RawTensor>,
  openAiKey: string,
  shape: number[],
  used: Set<string>,
): RawTensor {
  const name = hfName(openAiKey);
  const fetch = (k: string, s: number[]) => {
    used.add(k);
    return take(tensors, k, s);
  };
  if (name.kind === 'transpose') {
    return transpose2d(fetch(name.key, [shape[1], shape[0]]));
  }
  if (name.kind === 'qkv') {
    const part = [shape[0] / 3, ...shape.slice(1)];
    return concatRows(name.keys.map((k) => fetch(k, part)));
  }
  return fetch(name.key, shape);
}

type HfName =
  { kind: 'copy' | 'transpose'; key: string } | { kind: 'qkv'; keys: [string, string, string] };

const HF_TOP: Record<string, string> = {
  'visual.class_embedding': 'vision_model.embeddings.class_embedding',
  'visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
  'visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
  'visual.ln_pre.weight': 'vision_model.pre_layrnorm.weight',
  'visual.ln_pre.bias': 'vision_model.pre_layrnorm.bias',
  'visual.ln_post.weight': 'vision_model.post_layernorm.weight',
  'visual.ln_post.bias': 'vision_model.post_layernorm.bias',
  'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
  positional_embedding: 'text_model.embeddings.position_embedding.weight',
  'ln_final.weight': 'text_model.final_layer_norm.weight',
  'ln_final.bias': 'text_model.final_layer_norm.bias',
  logit_scale: 'logit_scale',
};

const HF_BLOCK: Record<string, string> = {
  'attn.out_proj': 'self_attn.out_proj',
  ln_1: 'layer_norm1',
  ln_2: 'layer_norm2',
  'mlp.c_fc': 'mlp.fc1',
  'mlp.c_proj': 'mlp.fc2',
};

/** The Hugging Face name(s) holding one OpenAI tensor. */
export function hfName(openAiKey: string): HfName {
  if (openAiKey === 'visual.proj') return { kind: 'transpose', key: 'visual_projection.weight' };
  if (openAiKey === 'text_projection') return { kind: 'transpose', key: 'text_projection.weight' };
  if (HF_TOP[openAiKey]) return { kind: 'copy', key: HF_TOP[openAiKey] };

  const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$/.exec(openAiKey);
  if (!m) throw new Error(`no Hugging Face name for ${openAiKey}`);
  const base = `${m[1] ? 'vision' : 'text'}_model.encoder.layers.${m[2]}`;

  // in_proj_{weight,bias} stacks the q, k, v projections (in that order) along rows.
  const inProj = /^attn\.in_proj_(weight|bias)$/.exec(m[3]);
  if (inProj) {
    const qkv = ['q', 'k', 'v'].map((x) => `${base}.self_attn.${x}_proj.${inProj[1]}`);
    return { kind: 'qkv', keys: qkv as [string, string, string] };
  }
  const [, module, kind] = /^(.+)\.(weight|bias)$/.exec(m[3]) ?? [];
  return { kind: 'copy', key: `${base}.${HF_BLOCK[module]}.${kind}` };
}

function take(tensors: Map<string, RawTensor>, key: string, shape: number[]): RawTensor {
  const t = tensors.get(key);
  if (!t) {
    throw new NadaError(
      'weights.mismatch',
      `CLIP weights lack "${key}" (expected shape [${shape}]): the file is incomplete ` +
        'or was saved for another model',
      { key, expected: shape, found: null },
    );
  }
  const fits = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!fits || t.dtype !== 'F32') {
    throw new NadaError(
      'weights.mismatch',
      `CLIP weight "${key}" has shape [${t.shape}] (${t.dtype}), the config expects ` +
        `[${shape}] (F32): the weights belong to another model size or config`,
      { key, expected: shape, found: t.shape },
    );
  }
  return t;
}

function rejectUnknown(tensors: Map<string, RawTensor>, known: (key: string) => boolean) {
  for (const [key, t] of tensors) {
    if (known(key)) continue;
    throw new NadaError(
      'weights.mismatch',
      `CLIP weights hold "${key}" (shape [${t.shape}]) that the config does not expect: ` +
        'the config has fewer layers than the file, or the file is another model',
      { key, expected: null, found: t.shape },
    );
  }
}

function transpose2d(t: RawTensor): RawTensor {
  const [r, c] = t.shape;
  const data = new Float32Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
  }
  return { dtype: 'F32', shape: [c, r], data };
}

function concatRows(parts: RawTensor[]): RawTensor {
  const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return {
    dtype: 'F32',
    shape: [parts.length * parts[0].shape[0], ...parts[0].shape.slice(1)],
    data,
  };
}
