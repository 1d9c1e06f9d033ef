import * as tf from '@tensorflow/tfjs-core';
// The generator is trained through: make sure tfjs's gradient functions are registered.
import '@tensorflow/tfjs';

import { NadaError } from '../../errors.ts';
import { checkTensors } from '../weights/checks.ts';
import type { RawTensor } from '../weights/safetensors.ts';
import { readGeneratorTensors } from './read-weights.ts';
import {
  inferConfig,
  nLatentOf,
  noiseResolution,
  numLayersOf,
  type StyleGan2Config,
} from './config.ts';
import { mappingNetwork, type EqualLinearParams } from './mapping-network.ts';
import {
  expectedShapes,
  isBuffer,
  styledConvParams,
  synthesisModules,
  toRgbParams,
  type ModuleName,
} from './param-names.ts';
import { randomTensors } from './random-init.ts';
import { styledConv, toRgb, type SynthesisHooks } from './styled-layers.ts';

/** 'const': the stored buffers; 'random': fresh N(0,1) per sample; or one NHWC map per layer. */
export type NoiseInput = 'const' | 'random' | tf.Tensor4D[];

export interface ForwardOptions {
  /** styles are W (or W+) already, skip the mapping network */
  inputIsLatent?: boolean;
  /** ψ: W ← mean + ψ·(W − mean), applied only when ψ < 1 */
  truncation?: number;
  truncationLatent?: tf.Tensor2D;
  /** style mixing: rows [0, injectIndex) from styles[0], the rest from styles[1] */
  injectIndex?: number;
  /** default 'random', as the official `randomize_noise=True` */
  noise?: NoiseInput;
  /** seeds random noise and a random inject index */
  seed?: number;
  hooks?: SynthesisHooks;
}

/**
 * The rosinality StyleGAN2 generator (as vendored in StyleGAN-NADA), NHWC.
 *
 * @example
 * const G = await StyleGan2Generator.load('stylegan2-ffhq-config-f.pt');
 * const { image } = G.forward([tf.randomNormal([2, 512])], { truncation: 0.7, truncationLatent });
 * image.shape; // [2, 1024, 1024, 3], values about [-1, 1]
 */
export class StyleGan2Generator {
  readonly config: StyleGan2Config;
  readonly nLatent: number;
  readonly numLayers: number;
  /** every learnable tensor under its official state-dict name, in the official shape */
  readonly params: Map<string, tf.Variable>;
  /** noise maps (NHWC [1, r, r, 1]) and FIR kernels [4, 4] */
  private readonly buffers: Map<string, tf.Tensor>;

  private constructor(config: StyleGan2Config, tensors: Map<string, tf.Tensor>) {
    this.config = config;
    this.nLatent = nLatentOf(config);
    this.numLayers = numLayersOf(config);
    this.params = new Map();
    this.buffers = new Map();
    for (const [key, t] of tensors) {
      if (isBuffer(key)) this.buffers.set(key, t);
      else this.params.set(key, tf.variable(t, true));
    }
    // Variables hold their own reference to the data.
    for (const [key, t] of tensors) if (!isBuffer(key)) t.dispose();
  }

  /** Builds a generator from a state dict; the config is read from the shapes. */
  static fromTensors(tensors: Map<string, RawTensor>, source = 'weights'): StyleGan2Generator {
    const config = inferConfig(tensors, source);
    const shapes = expectedShapes(config);
    checkTensors(tensors, shapes, { source, ignore: ['latent_avg'] });
    const made = new Map<string, tf.Tensor>();
    for (const key of shapes.keys()) made.set(key, toTfTensor(key, tensors.get(key)!));
    return new StyleGan2Generator(config, made);
  }

  /** Loads `.safetensors` or a rosinality `.pt` (zip or legacy; the `g_ema` entry). */
  static async load(path: string): Promise<StyleGan2Generator> {
    return StyleGan2Generator.fromTensors(await readGeneratorTensors(path), path);
  }

  /** A freshly initialised generator (the official init), deterministic per seed. */
  static random(config: StyleGan2Config, seed: number): StyleGan2Generator {
    const raw = randomTensors(config, expectedShapes(config), seed);
    const made = new Map<string, tf.Tensor>();
    for (const [key, t] of raw) made.set(key, toTfTensor(key, t));
    return new StyleGan2Generator(config, made);
  }

  /** G.style(z): [b, styleDim] → [b, styleDim]. */
  mapping(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => mappingNetwork(z, this.mappingLayers(), this.config.lrMlp));
  }

  /** Mean of the mapping output over n normal z: [1, styleDim]. */
  meanLatent(n: number, seed: number): tf.Tensor2D {
    return tf.tidy(() => {
      const z = tf.randomNormal([n, this.config.styleDim], 0, 1, 'float32', seed) as tf.Tensor2D;
      return tf.mean(this.mapping(z), 0, true) as tf.Tensor2D;
    });
  }

  /**
   * Synthesis network: W+ [b, nLatent, styleDim] → NHWC image [b, size, size, 3].
   * W+ rows: conv1 ← 0, to_rgb1 ← 1, block j: convs[2j] ← 2j+1, convs[2j+1] ← 2j+2,
   * to_rgbs[j] ← 2j+3. Noise: conv1 ← 0, convs[k] ← k+1.
   */
  synthesis(
    wPlus: tf.Tensor3D,
    noise: NoiseInput,
    seed?: number,
    hooks?: SynthesisHooks,
  ): tf.Tensor4D {
    this.checkWPlus(wPlus);
    return tf.tidy(() => {
      const batch = wPlus.shape[0];
      const rows = tf.unstack(wPlus, 1) as tf.Tensor2D[];
      const noises = this.noiseMaps(noise, batch, seed);
      const p = (name: string) => this.tensor(name);

      // constant input [1, C, 4, 4] → NHWC, repeated over the batch
      const input = tf.transpose(p('input.input'), [0, 2, 3, 1]) as tf.Tensor4D;
      let x = tf.tile(input, [batch, 1, 1, 1]);
      x = styledConv(p, 'conv1', x, rows[0], noises[0], false, hooks);
      let skip = toRgb(p, 'to_rgb1', x, rows[1], null, hooks);

      for (let j = 0; j < (this.nLatent - 2) / 2; j++) {
        const r = 2 * j + 1;
        x = styledConv(p, `convs.${2 * j}`, x, rows[r], noises[r], true, hooks);
        x = styledConv(p, `convs.${2 * j + 1}`, x, rows[r + 1], noises[r + 1], false, hooks);
        skip = toRgb(p, `to_rgbs.${j}`, x, rows[r + 2], skip, hooks);
      }
      return skip;
    });
  }

  /**
   * The official Generator.forward: mapping (unless inputIsLatent), truncation, broadcast to
   * W+ (or style mixing with two styles), synthesis.
   */
  forward(
    styles: Array<tf.Tensor2D | tf.Tensor3D>,
    opts: ForwardOptions = {},
  ): { image: tf.Tensor4D; latent: tf.Tensor3D } {
    // a clone, so that disposing `latent` never disposes a W+ the caller passed in
    const latent = tf.tidy(() => tf.clone(this.toWPlus(styles, opts)));
    const image = this.synthesis(latent, opts.noise ?? 'random', opts.seed, opts.hooks);
    return { image, latent };
  }

  /** Parameter names of a whole module ('conv1', 'to_rgb1', `convs.i`, `to_rgbs.i`). */
  moduleParams(module: ModuleName): string[] {
    if (!synthesisModules(this.config).includes(module)) {
      throw new NadaError(
        'model.unknown_module',
        `"${module}" is not a synthesis module of this generator ` +
          `(conv1, to_rgb1, convs.0–${this.numLayers - 2}, to_rgbs.0–${(this.nLatent - 4) / 2})`,
        { module },
      );
    }
    return module.includes('rgb') ? toRgbParams(module) : styledConvParams(module);
  }

  /** A deep copy: new variables with the same values (G_train from G_frozen). */
  clone(): StyleGan2Generator {
    const copies = new Map<string, tf.Tensor>();
    for (const key of expectedShapes(this.config).keys()) copies.set(key, this.tensor(key).clone());
    return new StyleGan2Generator(this.config, copies);
  }

  /** Every parameter and buffer under its official name and shape, in the official order. */
  stateDict(): Map<string, RawTensor> {
    const out = new Map<string, RawTensor>();
    for (const [key, shape] of expectedShapes(this.config)) {
      const data = this.tensor(key).dataSync() as Float32Array;
      out.set(key, { dtype: 'F32', shape, data: new Float32Array(data) });
    }
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const t of this.buffers.values()) t.dispose();
    this.params.clear();
    this.buffers.clear();
  }

  private tensor(name: string): tf.Tensor {
    const t = this.params.get(name) ?? this.buffers.get(name);
    if (!t) throw new Error(`StyleGAN2 generator has no tensor "${name}"`);
    return t;
  }

  private mappingLayers(): EqualLinearParams[] {
    const layers: EqualLinearParams[] = [];
    for (let i = 1; i <= this.config.nMlp; i++) {
      layers.push({
        weight: this.tensor(`style.${i}.weight`) as tf.Tensor2D,
        bias: this.tensor(`style.${i}.bias`) as tf.Tensor1D,
      });
    }
    return layers;
  }

  /** styles → W+ [b, nLatent, styleDim], as the official forward does. */
  private toWPlus(styles: Array<tf.Tensor2D | tf.Tensor3D>, opts: ForwardOptions): tf.Tensor3D {
    if (styles.length < 1 || styles.length > 2) {
      throw new NadaError('model.bad_input', `forward takes 1 or 2 styles, got ${styles.length}`);
    }
    let ws = opts.inputIsLatent ? styles : styles.map((s) => this.mapping(s as tf.Tensor2D));

    const psi = opts.truncation ?? 1;
    if (psi < 1) {
      const mean = opts.truncationLatent;
      if (!mean) {
        throw new NadaError('model.bad_input', 'truncation < 1 needs a truncationLatent');
      }
      ws = ws.map((w) => tf.add(mean, tf.mul(psi, tf.sub(w, mean))) as tf.Tensor2D);
    }

    const repeat = (w: tf.Tensor2D | tf.Tensor3D, n: number): tf.Tensor3D =>
      w.rank === 3 ? (w as tf.Tensor3D) : (tf.tile(tf.expandDims(w, 1), [1, n, 1]) as tf.Tensor3D);
    if (ws.length === 1) return repeat(ws[0], this.nLatent);

    const inject = opts.injectIndex ?? randomInjectIndex(this.nLatent, opts.seed);
    const first = repeat(ws[0] as tf.Tensor2D, inject);
    const second = repeat(ws[1] as tf.Tensor2D, this.nLatent - inject);
    return tf.concat([first, second], 1);
  }

  /** One NHWC noise map per layer: [1 or b, r, r, 1]. */
  private noiseMaps(noise: NoiseInput, batch: number, seed?: number): tf.Tensor4D[] {
    if (noise === 'const') {
      return Array.from({ length: this.numLayers }, (_, i) => {
        return this.buffers.get(`noises.noise_${i}`) as tf.Tensor4D;
      });
    }
    if (noise === 'random') {
      return Array.from({ length: this.numLayers }, (_, i) => {
        const r = noiseResolution(i);
        const s = seed === undefined ? undefined : seed * 1000 + i;
        return tf.randomNormal([batch, r, r, 1], 0, 1, 'float32', s) as tf.Tensor4D;
      });
    }
    if (noise.length !== this.numLayers) {
      throw new NadaError(
        'model.bad_input',
        `explicit noise needs ${this.numLayers} maps (one per layer), got ${noise.length}`,
      );
    }
    return noise;
  }

  private checkWPlus(wPlus: tf.Tensor3D): void {
    const [, rows, dim] = wPlus.shape;
    if (wPlus.rank !== 3 || rows !== this.nLatent || dim !== this.config.styleDim) {
      throw new NadaError(
        'model.bad_input',
        `W+ must be [batch, ${this.nLatent}, ${this.config.styleDim}], got [${wPlus.shape}]`,
        { shape: wPlus.shape },
      );
    }
  }
}

/** State-dict tensor → tfjs tensor; noise buffers [1, 1, r, r] become NHWC [1, r, r, 1]. */
function toTfTensor(key: string, t: RawTensor): tf.Tensor {
  const shape = key.startsWith('noises.') ? [1, t.shape[2], t.shape[3], 1] : t.shape;
  return tf.tensor(t.data as Float32Array, shape, 'float32');
}

/** random.randint(1, nLatent − 1), seeded when a seed is given. */
function randomInjectIndex(nLatent: number, seed?: number): number {
  const u = seed === undefined ? Math.random() : mulberry32(seed);
  return 1 + Math.floor(u * (nLatent - 1));
}

function mulberry32(seed: number): number {
  let t = (seed + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
