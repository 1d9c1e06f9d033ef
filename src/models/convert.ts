import { closeSync, copyFileSync, openSync, readFileSync, readSync, renameSync } from 'node:fs';

import { NadaError } from '../errors.ts';
import { CLIP_CONFIGS, clipConfigFromJson, type ClipConfig } from './clip/config.ts';
import { checkOpenAi, detectNaming, fromHfNames } from './clip/weight-names.ts';
import { expectedShapes, inferConfig, type StyleGan2Config } from './stylegan2/index.ts';
import { checkTensors } from './weights/checks.ts';
import { readSafetensors, writeSafetensors, type RawTensor } from './weights/safetensors.ts';
import { extractStateDict, isRawTensor, loadTorchCheckpoint } from './weights/torch-checkpoint.ts';

/** What the first bytes of a weights file say it is. */
export type WeightsKind = 'safetensors' | 'torch-zip' | 'torch-legacy';

/**
 * Tells a weights file by its first bytes. A web page (what Google Drive sends for a large
 * file it wants confirmed) or anything else is `model.not_checkpoint`.
 */
export function sniffWeights(path: string, label = path): WeightsKind {
  const head = readHead(path, 16);
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    return 'torch-zip';
  }
  if (head[0] === 0x80 && head[1] >= 2) return 'torch-legacy'; // a pickle's PROTO opcode
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors'; // '{' after the length
  const text = Buffer.from(head).toString('latin1').trimStart().toLowerCase();
  const page = text.startsWith('<!doctype') || text.startsWith('<html') || text.startsWith('<');
  throw new NadaError(
    'model.not_checkpoint',
    page
      ? `${label} is a web page, not a checkpoint (Google Drive answers large files with a ` +
          'confirmation page): download it in a browser and use `nadabot models import`'
      : `${label} is not a checkpoint: expected a PyTorch .pt (zip or legacy) or .safetensors`,
    { path },
  );
}

function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Converts a rosinality StyleGAN2 checkpoint (`.pt` with `g_ema`, zip or legacy, read without
 * executing its pickle) or a generator `.safetensors` into nadabot's `stylegan2.safetensors`:
 * every state-dict tensor under its official name, plus `latent_avg` when the file has one.
 * The architecture is read from the shapes and checked; `size` refuses a generator of
 * another resolution.
 */
export async function convertGenerator(
  src: string,
  dest: string,
  opts: { label?: string; size?: number } = {},
): Promise<StyleGan2Config> {
  const { tensors, config } = await inspectGenerator(src, opts);
  const shapes = expectedShapes(config);

  // official state-dict order, then latent_avg (the layout of nadabot's bundled file)
  const out = new Map<string, RawTensor>();
  for (const key of shapes.keys()) out.set(key, tensors.get(key)!);
  const latentAvg = tensors.get('latent_avg');
  if (latentAvg) out.set('latent_avg', latentAvg);
  writeSafetensors(dest, out, {
    format: 'rosinality StyleGAN2 g_ema',
    converted_from: opts.label ?? src,
  });
  return config;
}

/**
 * Reads a generator checkpoint and checks it: a rosinality StyleGAN2 state dict whose every
 * tensor fits the architecture its shapes describe, of `size` px when given
 * (`model.wrong_generator` otherwise).
 */
export async function inspectGenerator(
  src: string,
  opts: { label?: string; size?: number } = {},
): Promise<{ tensors: Map<string, RawTensor>; config: StyleGan2Config }> {
  const label = opts.label ?? src;
  const tensors = await readGeneratorFile(src, label);
  const config = inferConfig(tensors, label);
  if (opts.size !== undefined && config.size !== opts.size) {
    throw new NadaError(
      'model.wrong_generator',
      `${label} is a ${config.size} px generator, this model id needs ${opts.size} px: ` +
        'check that the file is the right one',
      { found: config.size, expected: opts.size },
    );
  }
  checkTensors(tensors, expectedShapes(config), { source: label, ignore: ['latent_avg'] });
  return { tensors, config };
}

async function readGeneratorFile(src: string, label: string): Promise<Map<string, RawTensor>> {
  if (sniffWeights(src, label) === 'safetensors') return readSafetensors(src).tensors;
  const checkpoint = await loadTorchCheckpoint(src);
  const tensors = extractStateDict(checkpoint, 'g_ema', label);
  // rosinality's checkpoints keep the mean W next to g_ema
  const latentAvg = (checkpoint as Record<string, unknown>).latent_avg;
  if (isRawTensor(latentAvg) && !tensors.has('latent_avg')) tensors.set('latent_avg', latentAvg);
  return tensors;
}

/** A CLIP model installed into a model folder. */
export interface InstalledClip {
  config: ClipConfig;
  naming: 'openai' | 'hf';
  format: string;
}

/**
 * Installs one CLIP ViT: safetensors (Hugging Face or OpenAI names) are kept as they are,
 * moved when `move` (a finished download) or copied; a PyTorch state dict (`.pt`, `.bin`) is
 * read through the safe reader and written as safetensors. The config comes from a JSON file
 * (Hugging Face `config.json` or OpenAI `build_model` fields), else from the known model
 * `name`; every tensor is checked against it before anything is written.
 */
export async function installClip(
  src: string,
  dest: string,
  opts: { name: string; configPath?: string; label?: string; move?: boolean },
): Promise<InstalledClip> {
  const label = opts.label ?? src;
  const config = opts.configPath ? readClipConfig(opts.configPath) : knownClipConfig(opts.name);
  const kind = sniffWeights(src, label);
  const tensors =
    kind === 'safetensors'
      ? readSafetensors(src).tensors
      : extractStateDict(await loadTorchCheckpoint(src), 'state_dict', label);

  // the same checks ClipModel.fromTensors makes, without building the model
  const naming = detectNaming(tensors);
  if (naming === 'openai') checkOpenAi(tensors, config);
  else fromHfNames(tensors, config);

  if (kind !== 'safetensors') writeSafetensors(dest, tensors, { converted_from: label });
  else if (opts.move) renameSync(src, dest);
  else copyFileSync(src, dest);
  const names = naming === 'hf' ? 'Hugging Face CLIPModel' : 'OpenAI CLIP';
  return { config, naming, format: `${names} state dict as safetensors` };
}

/** Reads a CLIP config JSON file (Hugging Face or OpenAI names). */
export function readClipConfig(path: string): ClipConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NadaError('model.clip_config', `${path} is not JSON (${(err as Error).message})`, {
      path,
    });
  }
  return clipConfigFromJson(json);
}

/** The config of a CLIP model OpenAI released under `name`. */
export function knownClipConfig(name: string): ClipConfig {
  if (name === 'ViT-B/32' || name === 'ViT-B/16') return CLIP_CONFIGS[name];
  throw new NadaError(
    'model.clip_config',
    `no config for CLIP "${name}": pass its config.json (--clip-config), or name it ` +
      'ViT-B/32 or ViT-B/16',
    { name },
  );
}
