import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import { ClipModel, ClipTokenizer, nadaPreprocess } from './clip/index.ts';
import { sha256File } from './download.ts';
import { isBundled, modelsDir, resolveModel, writeModelInfo, type ModelFiles } from './store.ts';
import { StyleGan2Generator } from './stylegan2/index.ts';

/** Prints one line of what verify does. */
export type VerifyLog = (message: string) => void;

/**
 * `nadabot models verify <id>`: the files are there, their sha256 match what pull/import
 * recorded, the generator loads and renders one image at batch 1, and each CLIP loads and
 * embeds that image and a text. On success an installed model's `model.json` records the
 * time. A failure throws the NadaError of the step (`model.checksum`, `weights.mismatch`, …).
 * Needs a tfjs backend (call selectBackend first); real models take a while on CPU.
 */
export async function verifyModel(
  id: string,
  dir = modelsDir(),
  log: VerifyLog = () => {},
): Promise<ModelFiles> {
  // files present (resolveModel throws model.missing naming the file)
  const files = resolveModel(id, dir);
  log(`files present in ${files.dir}`);

  // checksums recorded at install
  const recorded = [
    { path: files.generatorPath, sha256: files.info.generator.sha256 },
    ...files.clip.map((c, i) => ({ path: c.path, sha256: files.info.clip[i].sha256 })),
  ];
  for (const f of recorded) await checkSha256(f.path, f.sha256, id, log);

  // weights load and fit the architecture: render one image, embed it with every CLIP
  const image = await renderOne(files.generatorPath, log);
  try {
    for (const c of files.clip) await embedWithClip(c, image, log);
  } finally {
    image.dispose();
  }

  if (!isBundled(id)) writeModelInfo(files.dir, { ...files.info, verifiedAt: now() });
  log(`${id} verified`);
  return files;
}

async function checkSha256(path: string, expected: string | undefined, id: string, log: VerifyLog) {
  if (!expected) {
    log(`no sha256 recorded for ${path}: skipped`);
    return;
  }
  const found = await sha256File(path);
  if (found !== expected) {
    throw new NadaError(
      'model.checksum',
      `${path}: sha256 is ${found}, model.json recorded ${expected} at install: the file ` +
        `changed or is damaged; run \`nadabot models pull ${id} --force\``,
      { path, expected, found },
    );
  }
  log(`sha256 ok: ${path}`);
}

/** Loads the generator and renders seed 0 at batch 1; returns the image, NHWC [1, s, s, 3]. */
async function renderOne(path: string, log: VerifyLog): Promise<tf.Tensor4D> {
  let t0 = Date.now();
  const generator = await StyleGan2Generator.load(path);
  const { size } = generator.config;
  log(`generator loaded: ${size} px, ${generator.params.size} tensors (${Date.now() - t0} ms)`);
  try {
    t0 = Date.now();
    const image = tf.tidy(() => {
      const z = tf.randomNormal([1, generator.config.styleDim], 0, 1, 'float32', 0) as tf.Tensor2D;
      return generator.forward([z], { noise: 'const' }).image;
    });
    checkFinite(image, `${path}: the rendered image`);
    log(`rendered one ${size}×${size} image (${Date.now() - t0} ms)`);
    return image;
  } finally {
    generator.dispose();
  }
}

async function embedWithClip(c: ModelFiles['clip'][number], image: tf.Tensor4D, log: VerifyLog) {
  let t0 = Date.now();
  const clip = await ClipModel.load(c.path, c.config);
  log(`CLIP ${c.name} loaded (${Date.now() - t0} ms)`);
  try {
    t0 = Date.now();
    const embeds = tf.tidy(() => {
      const tokens = ClipTokenizer.load().tokenize(['a photo']);
      const res = c.config.imageResolution;
      return tf.concat([clip.encodeImage(nadaPreprocess(image, res)), clip.encodeText(tokens)]);
    });
    try {
      checkFinite(embeds, `${c.path}: the CLIP ${c.name} embeddings`);
    } finally {
      embeds.dispose();
    }
    log(`CLIP ${c.name} embedded the image and a text (${Date.now() - t0} ms)`);
  } finally {
    clip.dispose();
  }
}

function checkFinite(t: tf.Tensor, what: string): void {
  const bad = (t.dataSync() as Float32Array).some((v) => !Number.isFinite(v));
  if (bad) {
    throw new NadaError(
      'weights.corrupt',
      `${what} holds NaN or infinity: the weights are damaged`,
      {
        what,
      },
    );
  }
}

function now(): string {
  return new Date().toISOString();
}
