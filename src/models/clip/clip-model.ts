import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../../errors.ts';
import { readSafetensors, type RawTensor } from '../weights/safetensors.ts';
import { checkClipConfig, type ClipConfig } from './config.ts';
import { randomClipTensors } from './random-weights.ts';
import {
  causalMask,
  layerNorm,
  residualBlock,
  type BlockWeights,
  type LayerNormWeights,
} from './transformer.ts';
import { checkOpenAi, detectNaming, fromHfNames } from './weight-names.ts';

interface VisionWeights {
  patchW: tf.Tensor2D; // [p·p·3, w]: conv1.weight [w, 3, p, p] as a matrix over (ky, kx, c)
  classEmb: tf.Tensor1D; // [w]
  posEmb: tf.Tensor2D; // [grid² + 1, w]
  lnPre: LayerNormWeights;
  blocks: BlockWeights[];
  lnPost: LayerNormWeights;
  proj: tf.Tensor2D; // [w, embed]
}

interface TextWeights {
  tokenEmb: tf.Tensor2D; // [vocab, w]
  posEmb: tf.Tensor2D; // [context, w]
  blocks: BlockWeights[];
  lnFinal: LayerNormWeights;
  proj: tf.Tensor2D; // [w, embed]
  mask: tf.Tensor2D; // [context, context], causal
}

/**
 * Intermediate tensors recorded by `encodeImage`/`encodeText` when a map is passed: the
 * caller owns (and disposes) them. Names: `vision.patch_embeds` [b, g, g, w],
 * `vision.after_ln_pre`, `vision.block{i}` [b, n, w], `vision.pooled_after_ln_post` [b, w],
 * `text.embeds`, `text.block{i}`, `text.after_ln_final` [b, 77, w], `text.eot_index` [b].
 */
export type ClipTaps = Map<string, tf.Tensor>;

/**
 * OpenAI's CLIP (ViT image tower and text tower) in tfjs, frozen: its weights are plain
 * tensors, and gradients flow to the input images only.
 *
 * @example
 * const clip = await ClipModel.load('ViT-B-32.safetensors', CLIP_CONFIGS['ViT-B/32']);
 * clip.encodeImage(nadaPreprocess(images, 224)).shape; // [batch, 512]
 */
export class ClipModel {
  readonly config: ClipConfig;
  /** the stored parameter, ln 100 in released checkpoints; the logit scale is exp of it */
  readonly logitScale: number;
  private readonly vision: VisionWeights;
  private readonly text: TextWeights;

  private constructor(config: ClipConfig, tensors: Map<string, RawTensor>) {
    this.config = config;
    this.logitScale = tensors.get('logit_scale')!.data[0];
    this.vision = visionWeights(tensors, config);
    this.text = textWeights(tensors, config);
  }

  /**
   * Builds a model from a state dict with OpenAI names (`visual.conv1.weight`, …) or Hugging
   * Face `CLIPModel` names (`vision_model.…`), detected from the keys. Every key and shape is
   * checked against `config`; a misfit is a `weights.mismatch` NadaError naming the key.
   */
  static fromTensors(tensors: Map<string, RawTensor>, config: ClipConfig): ClipModel {
    checkClipConfig(config);
    const openAi =
      detectNaming(tensors) === 'openai'
        ? checkOpenAi(tensors, config)
        : fromHfNames(tensors, config);
    return new ClipModel(config, openAi);
  }

  /** Reads a .safetensors file (either naming) and builds the model. */
  static async load(path: string, config: ClipConfig): Promise<ClipModel> {
    return ClipModel.fromTensors(readSafetensors(path).tensors, config);
  }

  /** A randomly initialised model (OpenAI's init recipe) for demos and tests. */
  static random(config: ClipConfig, seed: number): ClipModel {
    return ClipModel.fromTensors(randomClipTensors(config, seed), config);
  }

  /**
   * Image embeddings, not normalised. `images` are NHWC, CLIP-normalised, of size
   * `imageResolution` (see `nadaPreprocess`). Differentiable w.r.t. `images`.
   */
  encodeImage(images: tf.Tensor4D, taps?: ClipTaps): tf.Tensor2D {
    this.checkImages(images);
    const v = this.vision;
    const heads = this.config.visionHeads;
    return tf.tidy(() => {
      const tap = tapInto(taps);
      const patches = this.patchEmbed(images); // [b, g², w]
      const [b, n, w] = patches.shape;
      const g = Math.sqrt(n);
      tap('vision.patch_embeds', tf.reshape(patches, [b, g, g, w]));

      // class token first, then the patches, plus positions
      const cls = tf.broadcastTo(tf.reshape(v.classEmb, [1, 1, w]), [b, 1, w]);
      let x = tf.add(tf.concat([cls, patches], 1), v.posEmb) as tf.Tensor3D; // [b, g² + 1, w]
      x = layerNorm(x, v.lnPre);
      tap('vision.after_ln_pre', x);

      v.blocks.forEach((blk, i) => {
        x = residualBlock(x, blk, heads);
        tap(`vision.block${i}`, x);
      });

      // ln_post on the class token only, then the projection
      const pooled = layerNorm(tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, w]), [b, w]), v.lnPost);
      tap('vision.pooled_after_ln_post', pooled);
      return tf.matMul(pooled, v.proj) as tf.Tensor2D; // [b, embed]
    });
  }

  /**
   * Text embeddings, not normalised, pooled at each row's largest id (the EOT token, as
   * OpenAI's argmax). `tokens` are int32 [b, contextLength] from `ClipTokenizer.tokenize`.
   */
  encodeText(tokens: tf.Tensor2D, taps?: ClipTaps): tf.Tensor2D {
    this.checkTokens(tokens);
    const t = this.text;
    const heads = this.config.textHeads;
    const w = this.config.textWidth;
    // Under the causal mask no position sees a later one, so positions after the batch's
    // last EOT cannot reach the pooled output: only that prefix is run (same numbers, up to
    // 10× less work for short prompts). Recorded intermediates cover all positions.
    const n = taps ? this.config.contextLength : lastEotIndex(tokens) + 1;
    return tf.tidy(() => {
      const tap = tapInto(taps);
      const b = tokens.shape[0];
      const mask = tf.slice(t.mask, [0, 0], [n, n]);

      // token + position embeddings
      const ids = tf.slice(tf.cast(tokens, 'int32'), [0, 0], [b, n]);
      const embedded = tf.gather(t.tokenEmb, tf.reshape(ids, [b * n])); // [b·n, w]
      const pos = tf.slice(t.posEmb, [0, 0], [n, w]);
      let x = tf.add(tf.reshape(embedded, [b, n, w]), pos) as tf.Tensor3D;
      tap('text.embeds', x);

      t.blocks.forEach((blk, i) => {
        x = residualBlock(x, blk, heads, mask);
        tap(`text.block${i}`, x);
      });
      x = layerNorm(x, t.lnFinal);
      tap('text.after_ln_final', x);

      // pool at the EOT position (argmax of the ids), then the projection
      const eot = tf.cast(tf.argMax(ids, 1), 'int32'); // [b]
      tap('text.eot_index', eot);
      const rows = tf.add(tf.range(0, b * n, n, 'int32'), eot); // row of each EOT in [b·n, w]
      const pooled = tf.gather(tf.reshape(x, [b * n, w]), rows); // [b, w]
      return tf.matMul(pooled, t.proj) as tf.Tensor2D; // [b, embed]
    });
  }

  /** Frees every weight tensor. */
  dispose(): void {
    tf.dispose(this.vision as unknown as tf.TensorContainer);
    tf.dispose(this.text as unknown as tf.TensorContainer);
  }

  // conv1 (stride = kernel = patch, no bias) as a reshape and one matrix product
  private patchEmbed(images: tf.Tensor4D): tf.Tensor3D {
    const p = this.config.visionPatchSize;
    const [b, h, w] = images.shape;
    const [gh, gw] = [h / p, w / p];
    const grid = tf.reshape(images, [b, gh, p, gw, p, 3]);
    const patches = tf.transpose(grid, [0, 1, 3, 2, 4, 5]); // [b, gh, gw, ky, kx, c]
    const rows = tf.reshape(patches, [b * gh * gw, p * p * 3]);
    return tf.reshape(tf.matMul(rows, this.vision.patchW), [b, gh * gw, -1]);
  }

  private checkImages(images: tf.Tensor4D): void {
    const r = this.config.imageResolution;
    const [, h, w, c] = images.shape;
    if (images.rank !== 4 || h !== r || w !== r || c !== 3) {
      throw new NadaError(
        'clip.input_shape',
        `CLIP image input is [${images.shape}], this model takes NHWC [batch, ${r}, ${r}, 3]: ` +
          `run nadaPreprocess(images, ${r}) first`,
        { shape: images.shape, resolution: r },
      );
    }
  }

  private checkTokens(tokens: tf.Tensor2D): void {
    const n = this.config.contextLength;
    if (tokens.rank !== 2 || tokens.shape[1] !== n) {
      throw new NadaError(
        'clip.input_shape',
        `CLIP text input is [${tokens.shape}], this model takes token ids [batch, ${n}]: ` +
          'use ClipTokenizer.tokenize',
        { shape: tokens.shape, contextLength: n },
      );
    }
  }
}

// Largest position of a row's largest id (the EOT) over the batch.
function lastEotIndex(tokens: tf.Tensor2D): number {
  const [b, n] = tokens.shape;
  const ids = tokens.dataSync();
  let last = 0;
  for (let row = 0; row < b; row++) {
    let best = 0;
    for (let i = 1; i < n; i++) if (ids[row * n + i] > ids[row * n + best]) best = i;
    last = Math.max(last, best);
  }
  return last;
}

function tapInto(taps?: ClipTaps) {
  return (name: string, t: tf.Tensor) => {
    if (taps) taps.set(name, tf.keep(t.clone()));
  };
}

// ---- building the internal layout from OpenAI-named tensors ----

function tensor(raw: RawTensor): tf.Tensor {
  return tf.tensor(raw.data, raw.shape, 'float32');
}

function transposed(raw: RawTensor): tf.Tensor2D {
  return tf.tidy(() => tf.transpose(tensor(raw)) as tf.Tensor2D);
}

// in_proj [3w, …] → its q, k, v blocks [w, …]
function splitRows(raw: RawTensor): RawTensor[] {
  const rows = raw.shape[0] / 3;
  const size = raw.data.length / 3;
  return [0, 1, 2].map((i) => ({
    dtype: 'F32',
    shape: [rows, ...raw.shape.slice(1)],
    data: raw.data.subarray(i * size, (i + 1) * size),
  }));
}

function norm(t: Map<string, RawTensor>, prefix: string): LayerNormWeights {
  return {
    gamma: tensor(t.get(`${prefix}.weight`)!) as tf.Tensor1D,
    beta: tensor(t.get(`${prefix}.bias`)!) as tf.Tensor1D,
  };
}

function blocks(t: Map<string, RawTensor>, prefix: string, layers: number): BlockWeights[] {
  return Array.from({ length: layers }, (_, i) => {
    const k = (name: string) => t.get(`${prefix}.resblocks.${i}.${name}`)!;
    const [qW, kW, vW] = splitRows(k('attn.in_proj_weight')).map(transposed);
    const [qB, kB, vB] = splitRows(k('attn.in_proj_bias')).map((r) => tensor(r) as tf.Tensor1D);
    return {
      ln1: norm(t, `${prefix}.resblocks.${i}.ln_1`),
      ...{ qW, kW, vW, qB, kB, vB },
      outW: transposed(k('attn.out_proj.weight')),
      outB: tensor(k('attn.out_proj.bias')) as tf.Tensor1D,
      ln2: norm(t, `${prefix}.resblocks.${i}.ln_2`),
      fcW: transposed(k('mlp.c_fc.weight')),
      fcB: tensor(k('mlp.c_fc.bias')) as tf.Tensor1D,
      projW: transposed(k('mlp.c_proj.weight')),
      projB: tensor(k('mlp.c_proj.bias')) as tf.Tensor1D,
    };
  });
}

function visionWeights(t: Map<string, RawTensor>, c: ClipConfig): VisionWeights {
  const p = c.visionPatchSize;
  const patchW = tf.tidy(() => {
    const conv = tf.transpose(tensor(t.get('visual.conv1.weight')!), [2, 3, 1, 0]); // [ky, kx, c, w]
    return tf.reshape(conv, [p * p * 3, c.visionWidth]);
  }) as tf.Tensor2D;
  return {
    patchW,
    classEmb: tensor(t.get('visual.class_embedding')!) as tf.Tensor1D,
    posEmb: tensor(t.get('visual.positional_embedding')!) as tf.Tensor2D,
    lnPre: norm(t, 'visual.ln_pre'),
    blocks: blocks(t, 'visual.transformer', c.visionLayers),
    lnPost: norm(t, 'visual.ln_post'),
    proj: tensor(t.get('visual.proj')!) as tf.Tensor2D,
  };
}

function textWeights(t: Map<string, RawTensor>, c: ClipConfig): TextWeights {
  return {
    tokenEmb: tensor(t.get('token_embedding.weight')!) as tf.Tensor2D,
    posEmb: tensor(t.get('positional_embedding')!) as tf.Tensor2D,
    blocks: blocks(t, 'transformer', c.textLayers),
    lnFinal: norm(t, 'ln_final'),
    proj: tensor(t.get('text_projection')!) as tf.Tensor2D,
    mask: causalMask(c.contextLength),
  };
}
