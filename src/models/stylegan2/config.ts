import type { RawTensor } from '../weights/safetensors.ts';
import { NadaError } from '../../errors.ts';

/** Architecture of a rosinality StyleGAN2 generator. */
export interface StyleGan2Config {
  size: number;
  styleDim: number;
  nMlp: number;
  channelMultiplier: number;
  lrMlp: number;
  /** resolution → feature channels at that resolution */
  channels: Record<number, number>;
}

/** The official channel table (rosinality `Generator.channels`). */
export function standardChannels(channelMultiplier: number): Record<number, number> {
  const cm = channelMultiplier;
  return {
    4: 512,
    8: 512,
    16: 512,
    32: 512,
    64: 256 * cm,
    128: 128 * cm,
    256: 64 * cm,
    512: 32 * cm,
    1024: 16 * cm,
  };
}

/** FFHQ config-f at the given size: 512 style, 8 MLP layers, channel multiplier 2. */
export function configF(size = 1024): StyleGan2Config {
  return {
    size,
    styleDim: 512,
    nMlp: 8,
    channelMultiplier: 2,
    lrMlp: 0.01,
    channels: standardChannels(2),
  };
}

/** log2 of the output size (6 for 64 px, 10 for 1024 px). */
export function logSize(config: StyleGan2Config): number {
  return Math.round(Math.log2(config.size));
}

/** Rows of W+ (2·log2(size) − 2). */
export function nLatentOf(config: StyleGan2Config): number {
  return logSize(config) * 2 - 2;
}

/** Noise maps (2·(log2(size) − 2) + 1). */
export function numLayersOf(config: StyleGan2Config): number {
  return (logSize(config) - 2) * 2 + 1;
}

/** Resolution of noise map i: 4, 8, 8, 16, 16, … */
export function noiseResolution(i: number): number {
  return 2 ** ((i + 5) >> 1);
}

/**
 * Reads the architecture from a state dict's shapes. `lrMlp` cannot be seen in shapes; every
 * released checkpoint uses 0.01. `channelMultiplier` is informational (the table is explicit):
 * it is read from the 64 px width when that follows the official table, else NADA's default 2.
 */
export function inferConfig(tensors: Map<string, RawTensor>, source = 'weights'): StyleGan2Config {
  const need = (key: string): number[] => {
    const t = tensors.get(key);
    if (!t) {
      throw new NadaError(
        'weights.mismatch',
        `${source} has no tensor "${key}": it is not a rosinality StyleGAN2 generator state dict`,
        { source, key },
      );
    }
    return t.shape;
  };

  let nMlp = 0;
  while (tensors.has(`style.${nMlp + 1}.weight`)) nMlp++;
  const styleDim = need('style.1.weight')[1];

  let blocks = 0;
  while (tensors.has(`to_rgbs.${blocks}.conv.weight`)) blocks++;
  const size = 2 ** (blocks + 2);

  const channels: Record<number, number> = { 4: need('input.input')[1] };
  for (let j = 0; j < blocks; j++) {
    channels[2 ** (j + 3)] = need(`convs.${2 * j}.conv.weight`)[1];
  }
  const width64 = channels[64];
  const cm = width64 !== undefined && width64 % 256 === 0 ? width64 / 256 : 2;
  return { size, styleDim, nMlp, channelMultiplier: cm, lrMlp: 0.01, channels };
}
