import { homedir } from 'node:os';
import { join } from 'node:path';

import type { Logger } from 'pino';

import { ClipTextEncoder } from '../text/clip-encoder.ts';
import { UnderstoodAsIndex } from '../text/understood-as.ts';
import type { EngineClip, EngineModels } from './models.ts';

/** The cache of embedded lists: `NADABOT_CACHE_DIR/understood-as`, else ~/.cache/nadabot/understood-as. */
export function understoodCacheDir(cacheDir?: string): string {
  const base = cacheDir ?? (process.env.NADABOT_CACHE_DIR || join(homedir(), '.cache', 'nadabot'));
  return join(base, 'understood-as');
}

/**
 * Embeds the English understood-as list (3,115 entries) once per CLIP model with CLIP's own
 * text encoder, or reads it from the cache, and keeps the indexes on `models`. Measured for
 * the demo's tiny CLIP on the wasm backend: about 1.3 s the first time, a file read after,
 * so a worker does it once at start-up rather than in the background. CLIP models loaded
 * without a weights hash (built in memory) get no list.
 *
 * @example
 * await openUnderstoodAs(models); // models.understoodAs: one index per CLIP model
 */
export async function openUnderstoodAs(
  models: EngineModels,
  opts: { cacheDir?: string; log?: Logger } = {},
): Promise<UnderstoodAsIndex[]> {
  const indexes: UnderstoodAsIndex[] = [];
  for (const clip of models.clips) {
    // Without a weights hash the cache could hand one model's list to another.
    if (!clip.weightsHash) continue;
    const t0 = performance.now();
    const index = await UnderstoodAsIndex.open(clipEncoder(clip, models), {
      cacheDir: understoodCacheDir(opts.cacheDir),
    });
    const ms = Math.round(performance.now() - t0);
    opts.log?.info(
      { space: clip.name, entries: index.phrases.length, fromCache: index.fromCache, ms },
      'understood-as list ready',
    );
    indexes.push(index);
  }
  models.understoodAs = indexes;
  return indexes;
}

/** CLIP's own text transformer of one model as a text encoder (it shares the loaded model). */
export function clipEncoder(clip: EngineClip, models: EngineModels): ClipTextEncoder {
  return new ClipTextEncoder(clip.model, models.tokenizer, {
    space: clip.name,
    weightsHash: clip.weightsHash ?? 'unknown',
  });
}
