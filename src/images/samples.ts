import sharp from 'sharp';

// The layout `renderGrid` (grid.ts) draws: a 96 px label column, 4 px gaps, a caption strip
// of max(24, cell/6) px, then one row of cells per generator (base on top, adapted below).
const LABEL_COLUMN_PX = 96;
const GAP_PX = 4;
const GRID_ROWS = 2;
const BACKGROUND = { r: 24, g: 24, b: 28 };

/** Where the cells of a preview grid lie. */
export interface GridCells {
  cell: number;
  captionPx: number;
  columns: number;
}

/**
 * Finds the cell size and column count of a preview grid from its pixel size, by the layout
 * `renderGrid` draws.
 */
export function gridCells(width: number, height: number): GridCells {
  for (let cell = 1; cell <= height; cell++) {
    const captionPx = Math.max(24, Math.round(cell / 6));
    if (captionPx + GRID_ROWS * (cell + GAP_PX) + GAP_PX !== height) continue;
    const columns = (width - LABEL_COLUMN_PX - GAP_PX) / (cell + GAP_PX);
    if (Number.isInteger(columns) && columns > 0) return { cell, captionPx, columns };
  }
  throw new Error(`a ${width}×${height} image is not a preview grid of two rows`);
}

/**
 * The adapted samples of a preview grid (its bottom row), one PNG each, in column order:
 * sample 1 is `[0]`.
 */
export async function adaptedSamples(gridPng: Buffer): Promise<Buffer[]> {
  const meta = await sharp(gridPng).metadata();
  const { cell, captionPx, columns } = gridCells(meta.width ?? 0, meta.height ?? 0);
  const top = captionPx + GAP_PX + (GRID_ROWS - 1) * (cell + GAP_PX);
  const samples: Buffer[] = [];
  for (let i = 0; i < columns; i++) {
    const left = LABEL_COLUMN_PX + GAP_PX + i * (cell + GAP_PX);
    samples.push(
      await sharp(gridPng).extract({ left, top, width: cell, height: cell }).png().toBuffer(),
    );
  }
  return samples;
}

export interface NumberedSamplesOptions {
  /** 1-based sample numbers to show first, each with a star */
  favourites?: number[];
  /** text above the samples */
  caption?: string;
}

/**
 * The final grid: every adapted sample with its number (the number a person reacts with),
 * favourites first and starred, then the others in order.
 *
 * @example
 * await numberedSamples(gridPng, { favourites: [3] }); // cells 3★, 1, 2, 4
 */
export async function numberedSamples(
  gridPng: Buffer,
  opts: NumberedSamplesOptions = {},
): Promise<Buffer> {
  const samples = await adaptedSamples(gridPng);
  const favourites = (opts.favourites ?? []).filter((n) => n >= 1 && n <= samples.length);
  const order = [
    ...favourites,
    ...samples.map((_, i) => i + 1).filter((n) => !favourites.includes(n)),
  ];
  const cell = (await sharp(samples[0]).metadata()).width ?? 64;
  const captionPx = opts.caption ? Math.max(24, Math.round(cell / 6)) : 0;
  const labelPx = Math.max(20, Math.round(cell / 5));
  const width = order.length * (cell + GAP_PX) + GAP_PX;
  const height = captionPx + labelPx + cell + GAP_PX;

  // Step 1: each sample under its number.
  const tiles = order.map((n, i) => ({
    input: samples[n - 1],
    left: GAP_PX + i * (cell + GAP_PX),
    top: captionPx + labelPx,
  }));

  // Step 2: the numbers and the caption as one SVG overlay.
  const texts = order.map((n, i) => {
    const x = GAP_PX + i * (cell + GAP_PX) + cell / 2;
    const label = favourites.includes(n) ? `${n} ★` : String(n);
    return svgText(x, captionPx + labelPx * 0.8, label, labelPx * 0.8, 'middle');
  });
  if (opts.caption) texts.push(svgText(8, captionPx * 0.72, opts.caption, captionPx * 0.55));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`;
  tiles.push({ input: Buffer.from(svg), left: 0, top: 0 });

  return sharp({ create: { width, height, channels: 3, background: BACKGROUND } })
    .composite(tiles)
    .png()
    .toBuffer();
}

function svgText(x: number, y: number, text: string, size: number, anchor = 'start'): string {
  const escaped = text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string,
  );
  return (
    `<text x="${Math.round(x)}" y="${Math.round(y)}" font-size="${Math.round(size)}" ` +
    `text-anchor="${anchor}" font-family="DejaVu Sans, sans-serif" fill="#eeeeee">${escaped}</text>`
  );
}
