import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { z } from 'zod';

import { NadaError } from '../errors.ts';

/** One CLIP model of a catalog entry: Hugging Face `model.safetensors` and its `config.json`. */
export interface CatalogClip {
  /** OpenAI's name, the one NADA's `--clip_models` takes */
  name: string;
  /** loss weight (NADA's `--clip_model_weights`) */
  weight: number;
  /** file name in the installed model folder */
  file: string;
  url: string;
  /** Hugging Face `config.json`; without it, the config of the OpenAI model `name` */
  configUrl?: string;
  /** size as published, for messages only (the server's Content-Length is what is checked) */
  approxBytes?: number;
  /** checked after download when set; none is set until someone has recorded a real one */
  sha256?: string;
}

/** A known model id: a rosinality StyleGAN2 generator and the CLIP models NADA pairs with it. */
export interface CatalogEntry {
  id: string;
  description: string;
  /** NADA's source class for this generator's domain */
  source: string;
  generator: {
    /** the name of the rosinality checkpoint, as StyleGAN-NADA's README calls it */
    fileName: string;
    /** output resolution in pixels; a converted file of another size is refused */
    size: number;
    /** a public direct-download URL; none of the rosinality files has one (Google Drive) */
    url?: string;
    sha256?: string;
  };
  clip: CatalogClip[];
}

const HF = 'https://huggingface.co';

/** HF CLIP files; the config sits next to the weights, as on the Hub. */
function hfClip(name: string, repo: string, approxBytes: number): CatalogClip {
  const base = `${HF}/${repo}/resolve/main`;
  return {
    name,
    weight: 1.0,
    file: `clip-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.safetensors`,
    url: `${base}/model.safetensors`,
    configUrl: `${base}/config.json`,
    approxBytes,
  };
}

// NADA's README trains with both ViT-B models at weight 1.0 each.
const NADA_CLIPS = [
  hfClip('ViT-B/32', 'openai/clip-vit-base-patch32', 605_000_000),
  hfClip('ViT-B/16', 'openai/clip-vit-base-patch16', 599_000_000),
];

function entry(
  id: string,
  source: string,
  size: number,
  fileName: string,
  description: string,
): CatalogEntry {
  return { id, description, source, generator: { fileName, size }, clip: NADA_CLIPS };
}

/**
 * The models nadabot knows by id. The generators are rosinality-format (`.pt`, `g_ema`)
 * StyleGAN2 config-f checkpoints; the ones StyleGAN-NADA links to live on Google Drive, which
 * has no stable direct-download URL, so `pull` needs `--url`, or `import` takes the file.
 */
export const CATALOG: CatalogEntry[] = [
  entry('ffhq', 'photo', 1024, 'stylegan2-ffhq-config-f.pt', 'FFHQ faces, 1024 px'),
  entry('afhqcat', 'cat', 512, 'afhqcat.pt', 'AFHQ cats, 512 px'),
  entry('afhqdog', 'dog', 512, 'afhqdog.pt', 'AFHQ dogs, 512 px'),
  entry('church', 'church', 256, 'stylegan2-church-config-f.pt', 'LSUN churches, 256 px'),
  entry('car', 'car', 512, 'stylegan2-car-config-f.pt', 'LSUN cars, 512 px'),
  entry('horse', 'horse', 256, 'stylegan2-horse-config-f.pt', 'LSUN horses, 256 px'),
];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

// An operator's own entries: `<models dir>/catalog.json`, `{ "models": [CatalogEntry…] }`.
const operatorCatalogSchema = z.object({
  models: z.array(
    z.object({
      id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i),
      description: z.string(),
      source: z.string(),
      generator: z.object({
        fileName: z.string(),
        size: z.number().int().positive(),
        url: z.url().optional(),
        sha256: sha256.optional(),
      }),
      clip: z
        .array(
          z.object({
            name: z.string(),
            weight: z.number().positive(),
            file: z.string().regex(/^[\w.-]+\.safetensors$/),
            url: z.url(),
            configUrl: z.url().optional(),
            approxBytes: z.number().int().positive().optional(),
            sha256: sha256.optional(),
          }),
        )
        .min(1),
    }),
  ),
});

/**
 * The catalog in force: nadabot's entries, then those of `<modelsDir>/catalog.json` when the
 * operator keeps one (a mirror with direct URLs and checksums, or generators of their own);
 * an operator entry replaces a built-in one of the same id.
 */
export function loadCatalog(modelsDir: string): CatalogEntry[] {
  const path = join(modelsDir, 'catalog.json');
  if (!existsSync(path)) return CATALOG;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NadaError('config.invalid', `${path} is not JSON (${(err as Error).message})`, {
      path,
    });
  }
  const parsed = operatorCatalogSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NadaError(
      'config.invalid',
      `${path}: ${issue?.path.join('.')} ${issue?.message} (see deploy/MODELS.md)`,
      { path },
    );
  }
  const own = parsed.data.models;
  return [...CATALOG.filter((e) => !own.some((o) => o.id === e.id)), ...own];
}

/**
 * The catalog entry of a model id; an unknown id is `model.unknown`, listing the known ones.
 *
 * @example
 * catalogEntry('ffhq').clip.map((c) => c.name); // ['ViT-B/32', 'ViT-B/16']
 */
export function catalogEntry(id: string, catalog: CatalogEntry[] = CATALOG): CatalogEntry {
  const found = catalog.find((e) => e.id === id);
  if (found) return found;
  throw new NadaError(
    'model.unknown',
    `"${id}" is not a model nadabot knows; known ids: ${catalog.map((e) => e.id).join(', ')}`,
    { id },
  );
}
