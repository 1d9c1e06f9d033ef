import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { animateGrids } from '../src/images/animation.ts';
import { fitImage } from '../src/images/fit.ts';
import { renderGrid } from '../src/images/grid.ts';
import { adaptedSamples, numberedSamples } from '../src/images/samples.ts';

// A grid like the engine's: 2 rows × 3 samples of 32 px smooth colour fields with a little
// grain (as the demo generator draws), upscaled to `cellPx`.
async function grid(cellPx = 96, phase = 0): Promise<Buffer> {
  const batch = (offset: number) => {
    const data = new Float32Array(3 * 32 * 32 * 3);
    for (let i = 0; i < data.length; i++) {
      const [x, y, c] = [(i / 3) % 32, Math.floor(i / 96) % 32, i % 3];
      const sample = Math.floor(i / (32 * 32 * 3));
      const grain = Math.sin(i * 12.9898) * 0.08;
      data[i] =
        Math.sin(x * 0.2 + c + offset + phase + sample * 2) * Math.cos(y * 0.15 - c) + grain;
    }
    return { data, count: 3, height: 32, width: 32 };
  };
  return renderGrid(
    [
      { label: 'base', images: batch(0) },
      { label: 'adapted', images: batch(1) },
    ],
    { caption: 'step 4 · photo → sketch', cellPx },
  );
}

// Mean absolute difference of two images' RGB pixels after resizing `b` to `a`'s size.
async function pixelDistance(a: Buffer, b: Buffer): Promise<number> {
  const meta = await sharp(a).metadata();
  const x = await sharp(a).removeAlpha().raw().toBuffer();
  const y = await sharp(b)
    .resize(meta.width, meta.height, { fit: 'fill' })
    .removeAlpha()
    .raw()
    .toBuffer();
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

describe('fitting a grid to an upload limit', () => {
  it('keeps a grid that fits as it is', async () => {
    const png = await grid();
    const { files, method } = await fitImage(png, { maxUploadBytes: png.length });
    expect(method).toBe('original');
    expect(files[0].bytes.equals(png)).toBe(true);
  });

  it('GIVEN a limit below the PNG THEN re-encodes to WebP at full size, close to the original', async () => {
    const png = await grid();
    const limit = Math.floor(png.length * 0.6);
    const { files, method } = await fitImage(png, { maxUploadBytes: limit });
    const meta = await sharp(png).metadata();
    expect(method).toBe('re-encoded');
    expect(files[0].format).toBe('webp');
    expect(files[0].bytes.length).toBeLessThanOrEqual(limit);
    expect([files[0].width, files[0].height]).toEqual([meta.width, meta.height]);
    const distance = await pixelDistance(png, files[0].bytes);
    console.log(
      `re-encoded ${png.length} → ${files[0].bytes.length} bytes, mean |Δpixel| ${distance.toFixed(2)}`,
    );
    expect(distance).toBeLessThan(12);
  });

  it('GIVEN a tight limit THEN shrinks, and GIVEN a tighter one THEN splits into parts that each fit', async () => {
    const png = await grid(192);
    const shrunk = await fitImage(png, { maxUploadBytes: 20000, minWidthPx: 200 });
    expect(shrunk.method).toBe('shrunk');
    expect(shrunk.files[0].bytes.length).toBeLessThanOrEqual(20000);

    const split = await fitImage(png, { maxUploadBytes: 5000, minWidthPx: 300 });
    expect(split.method).toBe('split');
    expect(split.files.length).toBeGreaterThan(1);
    for (const f of split.files) expect(f.bytes.length).toBeLessThanOrEqual(5000);
    const heights = split.files.reduce((h, f) => h + f.height, 0);
    const meta = await sharp(png).resize({ width: 300 }).toBuffer({ resolveWithObject: true });
    expect(heights).toBe(meta.info.height);
  });
});

describe('samples and animations', () => {
  it('cuts the adapted row into its samples and numbers them, favourites first', async () => {
    const png = await grid();
    const samples = await adaptedSamples(png);
    expect(samples).toHaveLength(3);
    const numbered = await numberedSamples(png, { favourites: [3] });
    const meta = await sharp(numbered).metadata();
    expect(meta.width).toBe(3 * (96 + 4) + 4);
    // the first cell shows sample 3: compare its pixels with the cut-out
    const labelPx = 20;
    const first = await sharp(numbered)
      .extract({ left: 4, top: labelPx, width: 96, height: 96 })
      .png()
      .toBuffer();
    expect(await pixelDistance(samples[2], first)).toBeLessThan(1);
    expect(await pixelDistance(samples[0], first)).toBeGreaterThan(5);
  });

  it('animates grids into a looping WebP with one page per grid', async () => {
    const frames = [await grid(96, 0), await grid(96, 1), await grid(64, 2)];
    const webp = await animateGrids(frames);
    const meta = await sharp(webp, { animated: true }).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.pages).toBe(3);
    expect(meta.loop).toBe(0);
    const gif = await animateGrids(frames, { format: 'gif' });
    expect((await sharp(gif, { animated: true }).metadata()).pages).toBe(3);
  });
});

describe('fitting an animation', () => {
  it('GIVEN an animation over the limit THEN it stays animated, every frame, under the limit', async () => {
    const frames = [await grid(192, 0), await grid(192, 1), await grid(192, 2)];
    const webp = await animateGrids(frames, { maxWidthPx: 640 });
    const limit = Math.floor(webp.length / 3);
    const { files, method } = await fitImage(webp, { maxUploadBytes: limit });
    expect(['re-encoded', 'shrunk']).toContain(method);
    expect(files).toHaveLength(1);
    expect(files[0].bytes.length).toBeLessThanOrEqual(limit);
    expect((await sharp(files[0].bytes, { animated: true }).metadata()).pages).toBe(3);
  });
});
