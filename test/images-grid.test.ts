import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import {
  fitText,
  renderGrid,
  stepFileName,
  toUint8,
  writeGrid,
  type ImageBatch,
} from '../src/images/grid.ts';

const root = mkdtempSync(join(tmpdir(), 'grid-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `count` 4×4 images, each one flat colour per quadrant so positions can be checked. */
function batch(count: number, seed: number): ImageBatch {
  const data = new Float32Array(count * 4 * 4 * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.7 + seed) * 1.3; // beyond ±1 too
  return { data, count, height: 4, width: 4 };
}

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i], data[i + 1], data[i + 2]];
}

describe('toUint8', () => {
  it('maps [-1, 1] to [0, 255] as save_image(normalize, range=(-1, 1)) and clamps', () => {
    const out = toUint8({
      data: Float32Array.of(-1, 0, 1, -3, 2, 0.5),
      count: 1,
      height: 1,
      width: 2,
    });
    expect(Array.from(out)).toEqual([0, 128, 255, 0, 255, 191]);
  });
});

describe('renderGrid', () => {
  it('places each image, upscaled nearest-neighbour, in its row and column', async () => {
    const top = batch(3, 0);
    const bottom = batch(3, 1);
    const cell = 40;
    const png = await renderGrid(
      [
        { label: 'base', images: top },
        { label: 'adapted', images: bottom },
      ],
      { caption: 'step 50 · photo → sketch', cellPx: cell },
    );
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.channels).toBe(3);
    expect(meta.width).toBe(96 + 3 * (cell + 4) + 4);
    expect(meta.height).toBe(24 + 2 * (cell + 4) + 4);

    // Source pixel (row 2, col 1) of image 2 in the bottom row, at the centre of its 10×10 block.
    const u8 = toUint8(bottom);
    const src = (2 * 16 + 2 * 4 + 1) * 3;
    const x = 96 + 4 + 2 * (cell + 4) + 1 * 10 + 5;
    const y = 24 + 4 + 1 * (cell + 4) + 2 * 10 + 5;
    expect(await pixel(png, x, y)).toEqual([u8[src], u8[src + 1], u8[src + 2]]);
  });

  it('draws the caption and labels (light pixels in the caption strip)', async () => {
    const png = await renderGrid([{ label: 'base', images: batch(1, 0) }], {
      caption: 'step 0',
      cellPx: 32,
    });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    let light = 0;
    for (let y = 0; y < 24; y++) {
      for (let x = 0; x < info.width; x++) if (data[(y * info.width + x) * 3] > 150) light++;
    }
    expect(light).toBeGreaterThan(20);
  });

  it('GIVEN markup, control characters and a very long CJK prompt THEN still renders', async () => {
    const caption = `step 1 · <b>&"'\u0007 ${'日本人女性'.repeat(40)}`;
    const png = await renderGrid([{ label: '<x>', images: batch(2, 0) }], { caption, cellPx: 16 });
    expect((await sharp(png).metadata()).width).toBe(96 + 2 * 20 + 4);
  });
});

describe('writeGrid', () => {
  it('writes a zero-padded, step-numbered PNG, creating the folder', async () => {
    const path = join(root, 'grids', stepFileName(50, 'png'));
    expect(path.endsWith('grids/step-000050.png')).toBe(true);
    await writeGrid(path, [{ label: 'base', images: batch(2, 0) }], { caption: 'step 50' });
    expect((await sharp(path).metadata()).format).toBe('png');
  });
});

describe('fitText', () => {
  it('keeps short text and ends long text with an ellipsis, CJK counting double', () => {
    expect(fitText('sketch', 10)).toBe('sketch');
    expect(fitText('abcdefghijkl', 6)).toBe('abcde…');
    expect(fitText('日本人女性の写真', 6)).toBe('日本…');
  });
});
