import * as tf from '@tensorflow/tfjs-core';

/** CLIP's per-channel normalisation (OpenAI `_transform`). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

// Keys's cubic convolution parameter used by PyTorch's bicubic interpolation.
const CUBIC_A = -0.75;

const matrixCache = new Map<string, Float32Array>();

/**
 * The [outSize, inSize] matrix of 1-D bicubic resampling as PyTorch's
 * `interpolate(mode='bicubic', align_corners=False)` computes it: half-pixel centres, a = −0.75,
 * source indices clamped to the border, no antialiasing. Cached per (in, out) size.
 */
export function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const key = `${inSize}->${outSize}`;
  let m = matrixCache.get(key);
  if (!m) {
    m = buildBicubicMatrix(inSize, outSize);
    matrixCache.set(key, m);
  }
  return m;
}

function buildBicubicMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    // PyTorch does not clamp the source coordinate for cubic (it does for linear)
    const src = (o + 0.5) * scale - 0.5;
    const base = Math.floor(src);
    const weights = cubicWeights(src - base);
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      m[o * inSize + idx] += weights[k];
    }
  }
  return m;
}

// Weights of the four taps at offsets −1, 0, 1, 2 for fractional position t.
function cubicWeights(t: number): number[] {
  const near = (x: number) => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1; // |x| ≤ 1
  const far = (x: number) => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/**
 * Bicubic resize of NHWC images to [outH, outW] as two matrix products (rows · image · colsᵀ):
 * the same numbers as PyTorch's bicubic interpolate without antialiasing, and differentiable.
 *
 * @example
 * bicubicResize(images, 224, 224).shape; // [batch, 224, 224, 3] from [batch, 64, 64, 3]
 */
export function bicubicResize(images: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  if (h === outH && w === outW) return tf.clone(images); // the matrices would be identities
  return tf.tidy((): tf.Tensor4D => {
    const rows = tf.tensor2d(bicubicMatrix(h, outH), [outH, h]);
    const cols = tf.tensor2d(bicubicMatrix(w, outW), [outW, w]);

    // resample the height: [h, b·w·c] → [outH, b·w·c]
    const byRow = tf.reshape(tf.transpose(images, [1, 0, 2, 3]), [h, b * w * c]);
    const tall = tf.reshape(tf.matMul(rows, byRow), [outH, b, w, c]);

    // resample the width: [w, b·outH·c] → [outW, b·outH·c]
    const byCol = tf.reshape(tf.transpose(tall, [2, 1, 0, 3]), [w, b * outH * c]);
    const wide = tf.reshape(tf.matMul(cols, byCol), [outW, b, outH, c]);
    return tf.transpose(wide, [1, 2, 0, 3]) as tf.Tensor4D; // [b, outH, outW, c]
  });
}

/** Size after torchvision `Resize(size)`: the shorter side becomes `size`, the ratio is kept. */
export function resizedShape(h: number, w: number, size: number): [number, number] {
  if (h <= w) return [size, Math.floor((size * w) / h)];
  return [Math.floor((size * h) / w), size];
}

/** torchvision `CenterCrop`: the offset is rounded half to even, as Python's round(). */
export function centerCrop(images: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  const top = roundHalfEven((h - outH) / 2);
  const left = roundHalfEven((w - outW) / 2);
  return tf.slice(images, [0, top, left, 0], [b, outH, outW, c]);
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * NADA's CLIP preprocessing of generator output, NHWC in about [−1, 1]:
 * (x + 1) / 2 without clamping → bicubic `Resize(resolution)` of the shorter side →
 * `CenterCrop(resolution)` → CLIP mean/std. Differentiable w.r.t. `images`.
 *
 * @example
 * nadaPreprocess(generatorImages, 224).shape; // [batch, 224, 224, 3]
 */
export function nadaPreprocess(images: tf.Tensor4D, resolution: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = images.shape;
    const unit = tf.div(tf.add(images, 1), 2) as tf.Tensor4D; // Normalize(mean −1, std 2)
    const [rh, rw] = resizedShape(h, w, resolution);
    const resized = bicubicResize(unit, rh, rw);
    const cropped = centerCrop(resized, resolution, resolution);
    return tf.div(tf.sub(cropped, CLIP_MEAN), CLIP_STD) as tf.Tensor4D;
  });
}
