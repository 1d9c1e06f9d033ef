import sharp from 'sharp';

export interface AnimationOptions {
  /** 'webp' (default) or 'gif' */
  format?: 'webp' | 'gif';
  /** how long each frame shows, ms; the last one shows three times as long */
  frameMs?: number;
  /** frames wider than this are scaled down (keeps the file small); default 640 */
  maxWidthPx?: number;
}

/**
 * Turns the grids of a run (PNG files or bytes, in step order) into one looping animation.
 * Frames of another size than the first are resized to it, so a continued run's grids join.
 *
 * @example
 * const webp = await animateGrids(['step-000000.png', 'step-000010.png']);
 * // an animated WebP: 2 pages, looping forever
 */
export async function animateGrids(
  frames: (string | Buffer)[],
  opts: AnimationOptions = {},
): Promise<Buffer> {
  if (frames.length === 0) throw new Error('an animation needs at least one frame');
  const first = await sharp(frames[0]).metadata();
  const width = Math.min(first.width ?? 1, opts.maxWidthPx ?? 640);
  const height = Math.round(((first.height ?? 1) * width) / (first.width ?? 1));

  // Step 1: every frame at the same size, as raw RGB.
  const raw = await Promise.all(
    frames.map((f) =>
      sharp(f).resize(width, height, { fit: 'fill' }).removeAlpha().png().toBuffer(),
    ),
  );

  // Step 2: one animated image, the frames stacked as pages.
  const frameMs = opts.frameMs ?? 700;
  const delay = raw.map((_, i) => (i === raw.length - 1 ? frameMs * 3 : frameMs));
  const animated = sharp(raw, { join: { animated: true } });
  return opts.format === 'gif'
    ? animated.gif({ delay, loop: 0 }).toBuffer()
    : animated.webp({ delay, loop: 0, quality: 80 }).toBuffer();
}
