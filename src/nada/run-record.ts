import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { RunRouting } from './types.ts';

/**
 * Adds the routing to the run's `run.json` when the run folder has one (whoever starts runs
 * may keep one there); a run without it is left as it is. Written beside and renamed.
 */
export function writeRunRouting(runDir: string, routing: RunRouting): void {
  const path = join(runDir, 'run.json');
  if (!existsSync(path)) return;
  const record = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...record, routing }, null, 2)}\n`);
  renameSync(tmp, path);
}
