import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { NadaError } from '../errors.ts';
import { encodeSafetensors, readSafetensors } from '../models/weights/safetensors.ts';
import type { TextEncoder } from './encoder.ts';
import { loadEnglishList } from './english-list.ts';
import type { RoutingRecord } from './routing.ts';

/** One English word or phrase near the prompt, with its cosine similarity. */
export interface UnderstoodEntry {
  phrase: string;
  similarity: number;
}

export interface UnderstoodAsOptions {
  /** the list file (default: data/understood-as/en.txt) */
  listPath?: string;
  /** where embedded lists are kept: `NADABOT_CACHE_DIR`/understood-as, else ~/.cache/nadabot/understood-as */
  cacheDir?: string;
  /** texts per encode call while embedding the list */
  chunk?: number;
}

/** The English list embedded by one encoder, unit-normalised: [n, dim] row-major. */
export class UnderstoodAsIndex {
  /** true when this index was read from the cache rather than computed */
  readonly fromCache: boolean;

  private constructor(
    readonly space: string,
    readonly encoderId: string,
    readonly phrases: string[],
    private readonly unit: Float32Array,
    readonly dim: number,
    fromCache: boolean,
  ) {
    this.fromCache = fromCache;
  }

  /**
   * Embeds the list with `encoder` (CLIP's own for its space, as the list is English), or
   * reads it from the cache, keyed by the encoder's weights hash and the list's content.
   *
   * @example
   * const index = await UnderstoodAsIndex.open(clipB32);
   * index.nearest(promptVector, 5); // [{ phrase: 'bronze statue', similarity: 0.91 }, …]
   */
  static async open(
    encoder: TextEncoder,
    opts: UnderstoodAsOptions = {},
  ): Promise<UnderstoodAsIndex> {
    const phrases = loadEnglishList(opts.listPath);
    const listHash = createHash('sha256').update(phrases.join('\n')).digest('hex').slice(0, 16);
    const file = join(cacheDir(opts.cacheDir), cacheName(encoder, listHash));
    const cached = readCache(file, phrases.length, encoder.dim);
    if (cached)
      return new UnderstoodAsIndex(encoder.space, encoder.id, phrases, cached, encoder.dim, true);

    const unit = new Float32Array(phrases.length * encoder.dim);
    const chunk = opts.chunk ?? 64;
    // Shortest first: a batch costs as much as its longest text (CLIP stops at the last EOT).
    const order = phrases.map((_, i) => i).sort((a, b) => phrases[a].length - phrases[b].length);
    for (let i = 0; i < order.length; i += chunk) {
      const rows = order.slice(i, i + chunk);
      const vectors = await encoder.encode(rows.map((r) => phrases[r]));
      vectors.forEach((v, j) => unit.set(normalised(v), rows[j] * encoder.dim));
    }
    writeCache(file, unit, phrases.length, encoder, listHash);
    return new UnderstoodAsIndex(encoder.space, encoder.id, phrases, unit, encoder.dim, false);
  }

  /** The k entries with the highest cosine similarity to `vector`, best first. */
  nearest(vector: Float32Array, k = 8): UnderstoodEntry[] {
    if (vector.length !== this.dim) {
      throw new NadaError(
        'encoder.dim_mismatch',
        `a ${vector.length}-d vector cannot be compared with the ${this.dim}-d ${this.space} list`,
        { space: this.space },
      );
    }
    const q = normalised(vector);
    const scores = this.phrases.map((phrase, i) => {
      let dot = 0;
      for (let j = 0; j < this.dim; j++) dot += q[j] * this.unit[i * this.dim + j];
      return { phrase, similarity: dot };
    });
    return scores.sort((a, b) => b.similarity - a.similarity).slice(0, k);
  }
}

/** Understood-as for one CLIP space of a run. */
export interface SpaceUnderstanding {
  space: string;
  encoderId: string;
  /** the text that was encoded (the prompt, or its English rendering) */
  text: string;
  entries: UnderstoodEntry[];
}

/**
 * For every CLIP space the routing kept: the prompt encoded by its routed encoder, compared
 * with that space's English list. Spaces without an index are skipped.
 */
export async function understoodAs(
  record: RoutingRecord,
  encoders: TextEncoder[],
  indexes: UnderstoodAsIndex[],
  k = 8,
): Promise<SpaceUnderstanding[]> {
  const out: SpaceUnderstanding[] = [];
  for (const route of record.routes) {
    const enc = encoders.find((e) => e.id === route.encoderId && e.space === route.space);
    const index = indexes.find((i) => i.space === route.space);
    if (route.status !== 'encoded' || !enc || !index || !route.texts) continue;
    const [vector] = await enc.encode([route.texts.target]);
    out.push({
      space: route.space,
      encoderId: enc.id,
      text: route.texts.target,
      entries: index.nearest(vector, k),
    });
  }
  return out;
}

function normalised(v: Float32Array): Float32Array {
  let sq = 0;
  for (const x of v) sq += x * x;
  const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
  return v.map((x) => x * inv);
}

function cacheDir(dir?: string): string {
  const base = process.env.NADABOT_CACHE_DIR || join(homedir(), '.cache', 'nadabot');
  return resolve(dir ?? join(base, 'understood-as'));
}

function cacheName(enc: TextEncoder, listHash: string): string {
  const space = enc.space.replace(/[^a-z0-9]+/gi, '-');
  return `${space}.${enc.weightsHash}.${listHash}.safetensors`;
}

function readCache(file: string, n: number, dim: number): Float32Array | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const t = readSafetensors(file).tensors.get('unit');
    if (t && t.shape[0] === n && t.shape[1] === dim) return t.data as Float32Array;
  } catch {
    // A damaged cache file is recomputed and overwritten.
  }
  return undefined;
}

function writeCache(
  file: string,
  unit: Float32Array,
  n: number,
  enc: TextEncoder,
  listHash: string,
): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const bytes = encodeSafetensors(
    new Map([['unit', { dtype: 'F32' as const, shape: [n, enc.dim], data: unit }]]),
    {
      space: enc.space,
      encoder: enc.id,
      weightsHash: enc.weightsHash,
      listHash,
    },
  );
  // Written beside and renamed, so a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}
