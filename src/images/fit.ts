import sharp, { type Sharp } from 'sharp';

/** One file ready to upload. */
export interface FittedFile {
  bytes: Buffer;
  /** 'png', 'webp' or 'jpeg' */
  format: string;
  width: number;
  height: number;
}

/** How an image was made to fit: each step is tried only when the previous one was not enough. */
export type FitMethod = 'original' | 're-encoded' | 'shrunk' | 'split';

export interface FitResult {
  files: FittedFile[];
  method: FitMethod;
}

export interface FitOptions {
  /** the platform's limit for one file, in bytes */
  maxUploadBytes: number;
  /** never shrink below this width in pixels (then split instead); default 256 */
  minWidthPx?: number;
}

// Lossy encodings tried in order, best-looking first; the grids are flat-coloured cells, on
// which WebP keeps edges sharper than JPEG at the same size.
const ENCODINGS: { format: 'webp' | 'jpeg'; quality: number }[] = [
  { format: 'webp', quality: 90 },
  { format: 'webp', quality: 75 },
  { format: 'jpeg', quality: 85 },
  { format: 'jpeg', quality: 70 },
];
const SHRINK_FACTOR = 0.75;
// Below this an animation of grids shows nothing worth watching.
const MIN_ANIMATION_WIDTH_PX = 96;

/**
 * Makes an image fit a platform's upload limit: the original when it fits, else re-encoded
 * (PNG → WebP → JPEG), else shrunk in steps of 3/4 down to `minWidthPx`, else split into
 * horizontal bands that each fit. An animation stays one animated WebP (lower quality, then
 * smaller frames).
 *
 * @example
 * const { files, method } = await fitImage(png, { maxUploadBytes: 8 * 1024 * 1024 });
 * // method 'original', files[0].format 'png'
 */
export async function fitImage(input: Buffer, opts: FitOptions): Promise<FitResult> {
  const meta = await sharp(input, { animated: true }).metadata();
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  const original: FittedFile = { bytes: input, format: meta.format ?? 'png', width, height };
  if (input.length <= opts.maxUploadBytes) return { files: [original], method: 'original' };
  if ((meta.pages ?? 1) > 1) return fitAnimation(input, width, opts.maxUploadBytes);

  // Step 1: a smaller encoding at the same size.
  const reencoded = await smallestFitting(input, width, opts.maxUploadBytes);
  if (reencoded) return { files: [reencoded], method: 're-encoded' };

  // Step 2: shrink until it fits or reaches the smallest useful width.
  const minWidth = Math.min(width, opts.minWidthPx ?? 256);
  for (
    let w = Math.floor(width * SHRINK_FACTOR);
    w >= minWidth;
    w = Math.floor(w * SHRINK_FACTOR)
  ) {
    const shrunk = await smallestFitting(input, w, opts.maxUploadBytes);
    if (shrunk) return { files: [shrunk], method: 'shrunk' };
  }

  // Step 3: split the smallest version into bands, each encoded to fit.
  return { files: await splitToFit(input, minWidth, opts.maxUploadBytes), method: 'split' };
}

// An animation stays one animated WebP: lower quality, then smaller frames, never split.
async function fitAnimation(input: Buffer, width: number, maxBytes: number): Promise<FitResult> {
  for (let w = width; w >= MIN_ANIMATION_WIDTH_PX; w = Math.floor(w * SHRINK_FACTOR)) {
    for (const quality of [75, 50]) {
      const out = sharp(input, { animated: true })
        .resize({ width: w })
        .webp({ quality, effort: 4 });
      const { data, info } = await out.toBuffer({ resolveWithObject: true });
      if (data.length > maxBytes) continue;
      const file = {
        bytes: data,
        format: 'webp',
        width: info.width,
        height: info.pageHeight ?? info.height,
      };
      return { files: [file], method: w === width ? 're-encoded' : 'shrunk' };
    }
  }
  throw new Error(
    `an animation cannot be made smaller than ${maxBytes} bytes: raise the upload limit`,
  );
}

// The first encoding of `input` resized to `width` that fits, or undefined.
async function smallestFitting(
  input: Buffer,
  width: number,
  maxBytes: number,
): Promise<FittedFile | undefined> {
  for (const e of ENCODINGS) {
    const file = await encode(sharp(input).resize({ width }), e.format, e.quality);
    if (file.bytes.length <= maxBytes) return file;
  }
  return undefined;
}

async function encode(image: Sharp, format: 'webp' | 'jpeg', quality: number): Promise<FittedFile> {
  const out =
    format === 'webp'
      ? image.webp({ quality, effort: 4 })
      : image.flatten({ background: '#18181c' }).jpeg({ quality, mozjpeg: true });
  const { data, info } = await out.toBuffer({ resolveWithObject: true });
  return { bytes: data, format, width: info.width, height: info.height };
}

// Halves the band height until every band fits; a band of one pixel row that still does not
// fit means the limit is unusably small.
async function splitToFit(input: Buffer, width: number, maxBytes: number): Promise<FittedFile[]> {
  const resized = await sharp(input).resize({ width }).png().toBuffer();
  const height = (await sharp(resized).metadata()).height ?? 0;
  for (let bands = 2; bands <= height; bands *= 2) {
    const files = await encodeBands(resized, width, height, bands, maxBytes);
    if (files) return files;
  }
  throw new Error(
    `an image of ${width}×${height} px cannot be cut into parts under ${maxBytes} bytes: ` +
      'raise the upload limit',
  );
}

async function encodeBands(
  image: Buffer,
  width: number,
  height: number,
  bands: number,
  maxBytes: number,
): Promise<FittedFile[] | undefined> {
  const files: FittedFile[] = [];
  const bandPx = Math.ceil(height / bands);
  for (let top = 0; top < height; top += bandPx) {
    const region = { left: 0, top, width, height: Math.min(bandPx, height - top) };
    const band = await sharp(image).extract(region).png().toBuffer();
    const file = await smallestFitting(band, width, maxBytes);
    if (!file) return undefined;
    files.push(file);
  }
  return files;
}
