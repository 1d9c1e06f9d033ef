import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import sharp, { type OverlayOptions } from 'sharp';

/** A batch of RGB images as the generator gives them: NHWC float32, about [-1, 1]. */
export interface ImageBatch {
  data: Float32Array;
  count: number;
  height: number;
  width: number;
}

/** One row of a grid: a label and the images to show side by side. */
export interface GridRow {
  label: string;
  images: ImageBatch;
}

export interface GridOptions {
  /** the caption strip above the images, e.g. "step 50 · photo → sketch" */
  caption: string;
  /** edge of one upscaled cell in pixels (nearest-neighbour); 192 shows 64 px samples well */
  cellPx?: number;
}

const LABEL_COLUMN_PX = 96;
const GAP_PX = 4;
const BACKGROUND = { r: 24, g: 24, b: 28 };
// Tried in order; fontconfig falls back per glyph, so CJK text finds Noto CJK when installed.
const FONT_FAMILY = "'DejaVu Sans', 'Noto Sans CJK JP', 'Noto Sans CJK SC', sans-serif";

/**
 * Generator output → 8-bit RGB, as torchvision's `save_image(normalize=True, range=(-1, 1))`:
 * (x + 1)/2 · 255, rounded, clamped to [0, 255].
 */
export function toUint8(batch: ImageBatch): Uint8Array {
  const out = new Uint8Array(batch.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.floor(((batch.data[i] + 1) / 2) * 255 + 0.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/**
 * Renders rows of images (frozen generator on top, trained below, say) under a caption strip,
 * each image upscaled with nearest-neighbour to `cellPx`, and returns PNG bytes.
 *
 * @example
 * const png = await renderGrid(
 *   [{ label: 'base', images: frozen }, { label: 'adapted', images: trained }],
 *   { caption: 'step 50 · photo → sketch' },
 * ); // 2 rows × nSample columns
 */
export async function renderGrid(rows: GridRow[], opts: GridOptions): Promise<Buffer> {
  const cell = opts.cellPx ?? 192;
  const cols = Math.max(...rows.map((r) => r.images.count));
  const captionPx = Math.max(24, Math.round(cell / 6));
  const width = LABEL_COLUMN_PX + cols * (cell + GAP_PX) + GAP_PX;
  const height = captionPx + rows.length * (cell + GAP_PX) + GAP_PX;

  // Step 1: every image as an upscaled PNG tile at its place.
  const tiles: OverlayOptions[] = [];
  for (const [r, row] of rows.entries()) {
    const top = captionPx + GAP_PX + r * (cell + GAP_PX);
    for (let i = 0; i < row.images.count; i++) {
      const left = LABEL_COLUMN_PX + GAP_PX + i * (cell + GAP_PX);
      tiles.push({ input: await tile(row.images, i, cell), left, top });
    }
  }

  // Step 2: the caption and row labels as one SVG overlay.
  const svg = labelsSvg(rows, opts.caption, { width, height, cell, captionPx });
  tiles.push({ input: Buffer.from(svg), left: 0, top: 0 });

  return sharp({ create: { width, height, channels: 3, background: BACKGROUND } })
    .composite(tiles)
    .removeAlpha()
    .png()
    .toBuffer();
}

/** Renders a grid and writes it as PNG, creating the folder if needed. */
export async function writeGrid(path: string, rows: GridRow[], opts: GridOptions): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  await sharp(await renderGrid(rows, opts)).toFile(path);
}

/** Zero-padded, step-numbered file name: `step-000050.png`. */
export function stepFileName(step: number, ext: string): string {
  return `step-${String(step).padStart(6, '0')}.${ext}`;
}

async function tile(batch: ImageBatch, index: number, cell: number): Promise<Buffer> {
  const pixels = batch.height * batch.width * 3;
  const one: ImageBatch = {
    data: batch.data.subarray(index * pixels, (index + 1) * pixels),
    count: 1,
    height: batch.height,
    width: batch.width,
  };
  return sharp(toUint8(one), { raw: { width: batch.width, height: batch.height, channels: 3 } })
    .resize(cell, cell, { kernel: 'nearest', fit: 'fill' })
    .png()
    .toBuffer();
}

interface Layout {
  width: number;
  height: number;
  cell: number;
  captionPx: number;
}

function labelsSvg(rows: GridRow[], caption: string, l: Layout): string {
  const fontPx = Math.round(l.captionPx * 0.55);
  const maxCaptionUnits = (l.width - 16) / (fontPx * 0.6);
  const text = (x: number, y: number, s: string, size: number, anchor = 'start'): string =>
    `<text x="${x}" y="${y}" font-size="${size}" text-anchor="${anchor}" ` +
    `font-family="${FONT_FAMILY}" fill="#eeeeee">${escapeXml(s)}</text>`;

  const parts = [
    text(8, Math.round(l.captionPx * 0.72), fitText(caption, maxCaptionUnits), fontPx),
  ];
  const labelPx = Math.min(fontPx, 14);
  for (const [r, row] of rows.entries()) {
    const y = l.captionPx + GAP_PX + r * (l.cell + GAP_PX) + l.cell / 2;
    const label = fitText(row.label, (LABEL_COLUMN_PX - 8) / (labelPx * 0.6));
    parts.push(text(LABEL_COLUMN_PX / 2, Math.round(y), label, labelPx, 'middle'));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${l.height}">${parts.join('')}</svg>`;
}

/**
 * Shortens `s` to about `maxUnits` character widths, ending in "…"; wide (CJK) characters count
 * as two. Keeps labels inside the image whatever the prompt length.
 */
export function fitText(s: string, maxUnits: number): string {
  const chars = [...s];
  let units = 0;
  for (const [i, ch] of chars.entries()) {
    units += isWide(ch) ? 2 : 1;
    if (units > maxUnits) return chars.slice(0, Math.max(0, i - 1)).join('') + '…';
  }
  return s;
}

function isWide(ch: string): boolean {
  const c = ch.codePointAt(0) ?? 0;
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0x1f300 && c <= 0x1faff) ||
    (c >= 0x20000 && c <= 0x3fffd)
  );
}

const XML_ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  "'": '&apos;',
  '"': '&quot;',
};

function escapeXml(s: string): string {
  // Control characters are not allowed in XML 1.0 and would make the whole overlay fail.
  const printable = [...s].filter((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  });
  return printable.join('').replace(/[<>&'"]/g, (c) => XML_ESCAPES[c]);
}
