import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import {
  configF,
  expectedShapes,
  inferConfig,
  StyleGan2Generator,
  type StyleGan2Config,
} from '../src/models/stylegan2/index.ts';
import type { RawTensor } from '../src/models/weights/safetensors.ts';
import {
  expectClose,
  FORWARD,
  GRADIENT,
  golden,
  goldenPath,
  LOSS,
  nhwc,
} from './helpers/golden.ts';

// Tolerances: the golden README's (forward atol 1e-4 + rtol 1e-3 of max |value|;
// gradients rtol 1e-2 of max |value|).
const FILE = 'stylegan2/golden.safetensors';
const g = (name: string) => golden(FILE, name);
const g2 = (name: string) => golden(FILE, name) as tf.Tensor2D;

let G: StyleGan2Generator;

beforeAll(async () => {
  await selectBackend();
  G = await StyleGan2Generator.load(goldenPath('stylegan2/tiny-ffhq.safetensors'));
});

afterAll(() => G?.dispose());

describe('config', () => {
  it('is read from the tiny checkpoint shapes', () => {
    expect(G.config).toEqual({
      size: 64,
      styleDim: 64,
      nMlp: 4,
      channelMultiplier: 2,
      lrMlp: 0.01,
      channels: { 4: 32, 8: 32, 16: 32, 32: 32, 64: 24 },
    });
    expect(G.nLatent).toBe(10);
    expect(G.numLayers).toBe(9);
  });

  it('reads FFHQ config-f (1024 px) from the shapes of its state dict', () => {
    const ffhq = configF(1024);
    const shapes = expectedShapes(ffhq);
    const tensors = new Map<string, RawTensor>();
    for (const [k, shape] of shapes)
      tensors.set(k, { dtype: 'F32', shape, data: new Float32Array(0) });
    const inferred = inferConfig(tensors);
    expect(inferred.size).toBe(1024);
    expect(inferred.styleDim).toBe(512);
    expect(inferred.nMlp).toBe(8);
    expect(inferred.channelMultiplier).toBe(2);
    expect(inferred.channels).toEqual({
      4: 512,
      8: 512,
      16: 512,
      32: 512,
      64: 512,
      128: 256,
      256: 128,
      512: 64,
      1024: 32,
    });
    // mapping 16, input 1, conv1 5, to_rgb1 4, convs 16·5 + 8 blur kernels, to_rgbs 8·5, noises 17
    expect(shapes.size).toBe(16 + 1 + 5 + 4 + 16 * 5 + 8 + 8 * 5 + 17);
    expect(shapes.get('convs.15.conv.weight')).toEqual([1, 32, 32, 3, 3]);
  });
});

describe('mapping network', () => {
  it('matches G.style(z)', () => {
    const w = G.mapping(g2('z'));
    expectClose(w, g('w'), FORWARD, 'w');
  });

  it('averages the mapping like G.mean_latent (reproducible 16-sample mean)', () => {
    const mean = tf.mean(G.mapping(g2('mean_in_16')), 0, true);
    expectClose(mean, g('mean_out_16'), FORWARD, 'mean_out_16');
  });

  it('meanLatent is [1, styleDim] and the same for the same seed', () => {
    const a = G.meanLatent(256, 7);
    const b = G.meanLatent(256, 7);
    const c = G.meanLatent(256, 8);
    expect(a.shape).toEqual([1, 64]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    tf.dispose([a, b, c]);
  });
});

describe('synthesis with the stored noise', () => {
  it('matches the image, every style and every layer output', () => {
    const styles = new Map<string, tf.Tensor>();
    const acts = new Map<string, tf.Tensor>();
    const { image } = G.forward([g2('z')], {
      noise: 'const',
      hooks: {
        onStyle: (m, s) => styles.set(m, tf.keep(s.clone())),
        onActivation: (m, a) => acts.set(m, tf.keep(tf.slice(a, 0, 1))),
      },
    });
    expectClose(image, nhwc(g('img_noise_const')), FORWARD, 'img_noise_const');

    expect(styles.size).toBe(2 + 8 + 4);
    for (const [m, s] of styles)
      expectClose(s, g(`style.${m}.conv.modulation`), FORWARD, `style.${m}`);
    expect(acts.size).toBe(14);
    for (const [m, a] of acts) expectClose(a, nhwc(g(`act.${m}`)), FORWARD, `act.${m}`);
    tf.dispose([...styles.values(), ...acts.values(), image]);
  });

  it('keeps the noise buffers noise_const.i', () => {
    const sd = G.stateDict();
    for (let i = 0; i < 9; i++) {
      const buf = sd.get(`noises.noise_${i}`)!;
      expectClose(buf.data, g(`noise_const.${i}`), FORWARD, `noise_const.${i}`);
    }
  });
});

describe('latents', () => {
  it('truncates toward the golden mean latent (ψ = 0.7)', () => {
    const { image, latent } = G.forward([g2('z')], {
      truncation: 0.7,
      truncationLatent: g2('mean_latent'),
      noise: 'const',
    });
    expectClose(latent, g('latent_trunc0.7'), FORWARD, 'latent_trunc0.7');
    expectClose(image, nhwc(g('img_trunc0.7')), FORWARD, 'img_trunc0.7');
  });

  it('takes W+ directly, through synthesis and through forward', () => {
    const wPlus = g('w_plus') as tf.Tensor3D;
    expectClose(G.synthesis(wPlus, 'const'), nhwc(g('img_wplus')), FORWARD, 'img_wplus');
    const { image, latent } = G.forward([wPlus], { inputIsLatent: true, noise: 'const' });
    expectClose(image, nhwc(g('img_wplus')), FORWARD, 'img_wplus (forward)');
    latent.dispose();
    expect(wPlus.isDisposed).toBe(false);
  });

  it('mixes styles at inject index 4', () => {
    const { image, latent } = G.forward([g2('z'), g2('z2')], { injectIndex: 4, noise: 'const' });
    expectClose(latent, g('latent_mix_inject4'), FORWARD, 'latent_mix_inject4');
    expectClose(image, nhwc(g('img_mix_inject4')), FORWARD, 'img_mix_inject4');
  });
});

describe('noise', () => {
  it('uses explicit per-sample noise maps', () => {
    const noise = Array.from({ length: 9 }, (_, i) => nhwc(g(`noise_explicit.${i}`)));
    const { image } = G.forward([g2('z')], { noise });
    expectClose(image, nhwc(g('img_noise_explicit')), FORWARD, 'img_noise_explicit');
  });

  it('draws fresh noise: the same for the same seed, different otherwise', () => {
    const z = tf.slice(g2('z'), 0, 1);
    const a = G.forward([z], { noise: 'random', seed: 3 }).image;
    const b = G.forward([z], { noise: 'random', seed: 3 }).image;
    const c = G.forward([z], { noise: 'random', seed: 4 }).image;
    expectClose(a, b, { atol: 0, rtol: 0 }, 'same seed');
    expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]).toBeGreaterThan(1e-3);
  });
});

describe('gradients', () => {
  it('match the probe gradients for L = sum(img · r) / numel', () => {
    const wPlus = tf.variable(g('w_plus'), true);
    const r = nhwc(g('grad_probe_r'));
    const names = [
      'conv1.conv.weight',
      'conv1.conv.modulation.weight',
      'conv1.conv.modulation.bias',
      'conv1.noise.weight',
      'conv1.activate.bias',
      'convs.0.conv.weight',
      'convs.3.conv.modulation.weight',
      'convs.7.conv.weight',
      'to_rgbs.3.conv.weight',
      'to_rgbs.3.bias',
      'to_rgb1.conv.weight',
      'input.input',
    ];
    const vars = [wPlus, ...names.map((n) => G.params.get(n)!)];
    const { value, grads } = tf.variableGrads(() => {
      const img = G.synthesis(wPlus as tf.Tensor3D, 'const');
      return tf.div(tf.sum(tf.mul(img, r)), img.size) as tf.Scalar;
    }, vars);

    expectClose(value, g('grad_probe_loss').reshape([]), LOSS, 'grad_probe_loss');
    expectClose(grads[wPlus.name], g('grad.w_plus'), GRADIENT, 'grad.w_plus');
    for (const n of names) {
      expectClose(grads[G.params.get(n)!.name], g(`grad.${n}`), GRADIENT, `grad.${n}`);
    }
    tf.dispose([value, ...Object.values(grads), wPlus]);
  });
});

describe('lifecycle', () => {
  it('clone() copies every variable: changing the copy leaves the original alone', () => {
    const copy = G.clone();
    const name = 'convs.1.conv.weight';
    const before = G.params.get(name)!.dataSync().slice();
    copy.params.get(name)!.assign(tf.zerosLike(copy.params.get(name)!));
    expect(Array.from(G.params.get(name)!.dataSync())).toEqual(Array.from(before));
    expect(copy.params.size).toBe(G.params.size);
    for (const [k, v] of copy.params) expect(v).not.toBe(G.params.get(k));
    copy.dispose();
    expect(G.params.get(name)!.isDisposed).toBe(false);
  });

  it('stateDict() round-trips through fromTensors', () => {
    const again = StyleGan2Generator.fromTensors(G.stateDict());
    const z = tf.slice(g2('z'), 0, 1);
    const a = G.forward([z], { noise: 'const' }).image;
    const b = again.forward([z], { noise: 'const' }).image;
    expectClose(b, a, { atol: 0, rtol: 0 }, 'round trip');
    again.dispose();
  });

  it('random() is deterministic per seed and renders any table', () => {
    const config: StyleGan2Config = {
      size: 16,
      styleDim: 8,
      nMlp: 2,
      channelMultiplier: 2,
      lrMlp: 0.01,
      channels: { 4: 6, 8: 5, 16: 4 },
    };
    const a = StyleGan2Generator.random(config, 5);
    const b = StyleGan2Generator.random(config, 5);
    const c = StyleGan2Generator.random(config, 6);
    const w = (x: StyleGan2Generator) => Array.from(x.stateDict().get('convs.2.conv.weight')!.data);
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    expect(
      a
        .stateDict()
        .get('to_rgbs.0.conv.modulation.bias')!
        .data.every((v) => v === 1),
    ).toBe(true);

    const { image } = a.forward([tf.randomNormal([2, 8], 0, 1, 'float32', 1) as tf.Tensor2D], {
      seed: 1,
    });
    expect(image.shape).toEqual([2, 16, 16, 3]);
    expect(image.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose(image);
    [a, b, c].forEach((x) => x.dispose());
  });

  it('leaks no tensor across repeated forwards', () => {
    const z = tf.randomNormal([1, 64], 0, 1, 'float32', 9) as tf.Tensor2D;
    const run = () => {
      const { image, latent } = G.forward([z], { noise: 'random', seed: 1 });
      tf.dispose([image, latent]);
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
  });
});
