import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { loadCatalog } from './catalog.ts';
import { installedIds, isBundled, modelsDir, resolveModel } from './store.ts';

/** One row of `nadabot models list`. */
export interface ModelRow {
  id: string;
  state: 'bundled' | 'installed' | 'available';
  description: string;
  /** bytes of the installed files */
  bytes?: number;
  /** "verified <time>", "not verified", "changed since install" … */
  check: string;
}

/**
 * The bundled models, the installed ones and the catalog's others, without reading weights:
 * sizes come from the files, the check from what model.json recorded.
 */
export function listModels(dir = modelsDir()): ModelRow[] {
  const installed = ['demo', ...installedIds(dir)].map((id) => installedRow(id, dir));
  const available = loadCatalog(dir)
    .filter((e) => !installed.some((r) => r.id === e.id))
    .map((e): ModelRow => {
      const how = e.generator.url ? `nadabot models pull ${e.id}` : 'needs --url or import';
      return { id: e.id, state: 'available', description: e.description, check: how };
    });
  return [...installed, ...available];
}

function installedRow(id: string, dir: string): ModelRow {
  try {
    const files = resolveModel(id, dir);
    const state = isBundled(id) ? 'bundled' : 'installed';
    const entries = [files.info.generator, ...files.info.clip];
    const paths = [files.generatorPath, ...files.clip.map((c) => c.path)];
    const sizes = paths.map((p) => statSync(p).size);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    const changed = entries.some((e, i) => e.bytes !== undefined && e.bytes !== sizes[i]);
    const check = changed
      ? 'changed since install: run verify'
      : files.info.verifiedAt
        ? `verified ${files.info.verifiedAt}`
        : state === 'bundled'
          ? 'ships with nadabot'
          : 'not verified';
    return { id, state, description: files.info.description, bytes, check };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const folder = join(dir, id);
    const where = existsSync(folder) ? folder : id;
    return { id, state: 'installed', description: where, check: `broken: ${message}` };
  }
}
