import { mkdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { isNadaError, NadaError } from '../errors.ts';
import { catalogEntry, loadCatalog, type CatalogClip, type CatalogEntry } from './catalog.ts';
import { inspectGenerator } from './convert.ts';
import { download, type DownloadProgress } from './download.ts';
import { installModel, refuseInstalled, type ClipSource } from './install.ts';
import { modelsDir, type ModelFiles } from './store.ts';

/** What pull and import report as they go, for a progress bar or a log. */
export interface PullEvents {
  /** a file download starts; `label` says which (generator, CLIP ViT-B/32, …) */
  onDownload?: (label: string, url: string) => void;
  onProgress?: (p: DownloadProgress) => void;
  /** a download finished */
  onDownloaded?: (label: string, bytes: number) => void;
  /** a conversion or check step */
  onStep?: (message: string) => void;
}

export interface PullOptions extends PullEvents {
  /** the generator checkpoint's URL (rosinality .pt or .safetensors) */
  url?: string;
  /** CLIP `model.safetensors` URLs, in the catalog's order; `config.json` is read next to each */
  clipUrls?: string[];
  force?: boolean;
  /** further attempts per file after a dropped connection (default 3) */
  retries?: number;
  modelsDir?: string;
}

/**
 * `nadabot models pull <id>`: downloads a catalog model's files into
 * `<modelsDir>/.downloads/<id>/` (resumable), converts them and installs `<modelsDir>/<id>/`.
 * A file that downloads whole but cannot be used (not a checkpoint, unsafe pickle, wrong
 * architecture) is deleted; a partial one stays, so the next pull resumes it.
 *
 * @example
 * await pullModel('ffhq', { url: 'https://mirror.example/stylegan2-ffhq-config-f.pt' });
 * resolveModel('ffhq').clip.map((c) => c.name); // ['ViT-B/32', 'ViT-B/16']
 */
export async function pullModel(id: string, opts: PullOptions = {}): Promise<ModelFiles> {
  const dir = opts.modelsDir ?? modelsDir();
  const entry = catalogEntry(id, loadCatalog(dir));
  refuseInstalled(id, dir, opts.force);
  const generatorUrl = opts.url ?? entry.generator.url;
  if (!generatorUrl) throw noGeneratorUrl(entry);
  const clips = clipsToFetch(entry, opts.clipUrls ?? []);
  const work = join(dir, '.downloads', id);
  mkdirSync(work, { recursive: true });

  // download: the generator, then each CLIP's weights and config
  const fetchOne = (label: string, url: string, file: string, sha256?: string) =>
    fetchChecked(label, url, join(work, file), sha256, opts);
  const generator = await fetchOne('generator', generatorUrl, entry.generator.fileName);
  opts.onStep?.('checking the generator before the CLIP downloads');
  await discardIfUnusable(generator, () =>
    inspectGenerator(generator, { label: generatorUrl, size: entry.generator.size }),
  );
  const clipSources: ClipSource[] = [];
  for (const c of clips) {
    const weights = await fetchOne(`CLIP ${c.name}`, c.url, c.file, c.sha256);
    const configPath = c.configUrl
      ? await fetchOne(`CLIP ${c.name} config`, c.configUrl, `${c.file}.config.json`)
      : undefined;
    const { name, weight, file } = c;
    clipSources.push({ path: weights, name, weight, file, configPath, origin: c.url, move: true });
  }

  // convert and install; a complete download that is unusable goes, so a retry refetches it
  const plan = {
    id,
    description: entry.description,
    source: entry.source,
    generator: { path: generator, origin: generatorUrl, size: entry.generator.size },
    clips: clipSources,
    force: opts.force,
  };
  const installed = await discardIfUnusable(undefined, () => installModel(plan, dir, opts.onStep));
  rmSync(work, { recursive: true, force: true });
  return installed;
}

/**
 * Runs a check or the install; when it fails on a downloaded file (`input`, or the file the
 * error names in `context.input`), that file is deleted so the next pull fetches it anew.
 */
async function discardIfUnusable<T>(input: string | undefined, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const named = isNadaError(err) ? err.context.input : undefined;
    const culprit = typeof named === 'string' ? named : input;
    if (culprit) forget(culprit);
    throw err;
  }
}

/** The catalog's CLIP files, with operator URLs in place of the catalog's, in order. */
function clipsToFetch(entry: CatalogEntry, urls: string[]): CatalogClip[] {
  if (urls.length > entry.clip.length) {
    throw new NadaError(
      'model.bad_option',
      `${entry.id} uses ${entry.clip.length} CLIP models ` +
        `(${entry.clip.map((c) => c.name).join(', ')}), ${urls.length} --clip-url were given`,
      { id: entry.id },
    );
  }
  return entry.clip.map((c, i) =>
    urls[i] === undefined
      ? c
      : { ...c, url: urls[i], configUrl: new URL('config.json', urls[i]).href, sha256: undefined },
  );
}

/** Downloads one file; a checksum in the catalog must match, else the file is deleted. */
async function fetchChecked(
  label: string,
  url: string,
  dest: string,
  sha256: string | undefined,
  opts: PullOptions,
): Promise<string> {
  opts.onDownload?.(label, url);
  const got = await download(url, dest, { retries: opts.retries, onProgress: opts.onProgress });
  opts.onDownloaded?.(label, got.bytes);
  if (sha256 && got.sha256 !== sha256) {
    forget(dest);
    throw new NadaError(
      'download.checksum',
      `${url}: sha256 is ${got.sha256}, the catalog says ${sha256}: the file is damaged or ` +
        'not the published one; it was deleted, run the command again',
      { url, expected: sha256, found: got.sha256 },
    );
  }
  return dest;
}

/** Deletes a downloaded file and its record, so the next pull fetches it again. */
function forget(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.json`, { force: true });
}

function noGeneratorUrl(entry: CatalogEntry): NadaError {
  return new NadaError(
    'model.no_url',
    `the ${entry.id} generator (${entry.generator.fileName}) has no direct download: ` +
      'StyleGAN-NADA links it on Google Drive. Pass a URL you can reach with ' +
      `\`nadabot models pull ${entry.id} --url <url>\`, or download it in a browser and run ` +
      `\`nadabot models import ${entry.id} --generator ${entry.generator.fileName} --clip …\``,
    { id: entry.id },
  );
}

export interface ImportOptions {
  /** rosinality .pt (g_ema) or generator .safetensors */
  generator: string;
  /** CLIP weights files (.safetensors with HF or OpenAI names, or a .pt/.bin state dict) */
  clip: string[];
  /** config JSON per CLIP file, in order (HF config.json or OpenAI build_model fields) */
  clipConfig?: string[];
  /** OpenAI model name per CLIP file (default: the catalog's, else ViT-B/32) */
  clipName?: string[];
  /** source text, required for an id the catalog does not know */
  source?: string;
  description?: string;
  force?: boolean;
  modelsDir?: string;
  onStep?: (message: string) => void;
}

/**
 * `nadabot models import <id>`: the same conversion as pull, from local files (offline
 * hosts, Google Drive downloads). The files given are read, never moved or changed.
 *
 * @example
 * await importModel('ffhq', { generator: 'stylegan2-ffhq-config-f.pt', clip: ['b32.safetensors', 'b16.safetensors'], clipConfig: ['b32.json', 'b16.json'] });
 */
export async function importModel(id: string, opts: ImportOptions): Promise<ModelFiles> {
  const dir = opts.modelsDir ?? modelsDir();
  const known = loadCatalog(dir).find((e) => e.id === id);
  const source = opts.source ?? known?.source;
  if (!source) {
    throw new NadaError(
      'model.bad_option',
      `"${id}" is not in the catalog: give its source text with --source (e.g. "photo")`,
      { id },
    );
  }
  if (opts.clip.length === 0) {
    throw new NadaError('model.bad_option', 'give at least one CLIP model with --clip', { id });
  }
  const clips = opts.clip.map((path, i) => importedClip(path, i, opts, known));
  const names = clips.map((c) => c.name);
  if (new Set(names).size !== names.length) {
    throw new NadaError(
      'model.bad_option',
      `two CLIP files are named alike (${names}): set --clip-name for each`,
      { id },
    );
  }
  const generator = resolve(opts.generator);
  return installModel(
    {
      id,
      description: opts.description ?? known?.description ?? `imported from ${basename(generator)}`,
      source,
      generator: { path: generator, origin: generator, size: known?.generator.size },
      clips,
      force: opts.force,
    },
    dir,
    opts.onStep,
  );
}

function importedClip(
  path: string,
  i: number,
  opts: ImportOptions,
  known: CatalogEntry | undefined,
): ClipSource {
  const name = opts.clipName?.[i] ?? known?.clip[i]?.name ?? 'ViT-B/32';
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const configPath = opts.clipConfig?.[i];
  return {
    path: resolve(path),
    name,
    weight: known?.clip[i]?.weight ?? 1.0,
    file: `clip-${slug}.safetensors`,
    configPath: configPath ? resolve(configPath) : undefined,
    origin: resolve(path),
  };
}
