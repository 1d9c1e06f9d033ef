import type { StyleGan2Config } from './config.ts';
import { nLatentOf, noiseResolution, numLayersOf } from './config.ts';

/** A synthesis module: 'conv1' | 'to_rgb1' | `convs.${i}` | `to_rgbs.${i}`. */
export type ModuleName = string;

/** Parameter names of a StyledConv (conv1, convs.i). */
export function styledConvParams(m: string): string[] {
  return [
    `${m}.conv.weight`,
    `${m}.conv.modulation.weight`,
    `${m}.conv.modulation.bias`,
    `${m}.noise.weight`,
    `${m}.activate.bias`,
  ];
}

/** Parameter names of a ToRGB (to_rgb1, to_rgbs.i). */
export function toRgbParams(m: string): string[] {
  return [
    `${m}.bias`,
    `${m}.conv.weight`,
    `${m}.conv.modulation.weight`,
    `${m}.conv.modulation.bias`,
  ];
}

/** The synthesis modules in forward order. */
export function synthesisModules(config: StyleGan2Config): ModuleName[] {
  const blocks = (nLatentOf(config) - 2) / 2;
  const out = ['conv1', 'to_rgb1'];
  for (let j = 0; j < blocks; j++) out.push(`convs.${2 * j}`, `convs.${2 * j + 1}`, `to_rgbs.${j}`);
  return out;
}

/**
 * Every state-dict key with its shape, in the official order (learnable parameters and the
 * buffers `noises.noise_i`, `convs.N.conv.blur.kernel`, `to_rgbs.N.upsample.kernel`).
 */
export function expectedShapes(config: StyleGan2Config): Map<string, number[]> {
  const { styleDim: sd, channels } = config;
  const blocks = (nLatentOf(config) - 2) / 2;
  const shapes = new Map<string, number[]>();
  const set = (k: string, s: number[]) => shapes.set(k, s);
  const styled = (m: string, inCh: number, outCh: number, k: number, up: boolean) => {
    set(`${m}.conv.weight`, [1, outCh, inCh, k, k]);
    if (up) set(`${m}.conv.blur.kernel`, [4, 4]);
    set(`${m}.conv.modulation.weight`, [inCh, sd]);
    set(`${m}.conv.modulation.bias`, [inCh]);
    set(`${m}.noise.weight`, [1]);
    set(`${m}.activate.bias`, [outCh]);
  };
  const toRgb = (m: string, inCh: number, up: boolean) => {
    set(`${m}.bias`, [1, 3, 1, 1]);
    if (up) set(`${m}.upsample.kernel`, [4, 4]);
    set(`${m}.conv.weight`, [1, 3, inCh, 1, 1]);
    set(`${m}.conv.modulation.weight`, [inCh, sd]);
    set(`${m}.conv.modulation.bias`, [inCh]);
  };

  for (let i = 1; i <= config.nMlp; i++) {
    set(`style.${i}.weight`, [sd, sd]);
    set(`style.${i}.bias`, [sd]);
  }
  set('input.input', [1, channels[4], 4, 4]);
  styled('conv1', channels[4], channels[4], 3, false);
  toRgb('to_rgb1', channels[4], false);
  for (let j = 0; j < blocks; j++) {
    const inCh = channels[2 ** (j + 2)];
    const outCh = channels[2 ** (j + 3)];
    styled(`convs.${2 * j}`, inCh, outCh, 3, true);
    styled(`convs.${2 * j + 1}`, outCh, outCh, 3, false);
  }
  for (let j = 0; j < blocks; j++) toRgb(`to_rgbs.${j}`, channels[2 ** (j + 3)], true);
  for (let i = 0; i < numLayersOf(config); i++) {
    const r = noiseResolution(i);
    set(`noises.noise_${i}`, [1, 1, r, r]);
  }
  return shapes;
}

/** True for state-dict entries that are buffers (not learnable). */
export function isBuffer(key: string): boolean {
  return (
    key.startsWith('noises.') || key.endsWith('.blur.kernel') || key.endsWith('.upsample.kernel')
  );
}
