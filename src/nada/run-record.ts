import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { NadaError } from '../errors.ts';

/**
 * Writes the run's `run.json`: what it adapts toward, from which base, with which options,
 * and how its texts were routed to the text encoders. Fields someone else keeps there (a bot
 * recording who asked) stay; the run's own are replaced. Written beside and renamed, so a
 * reader never sees half a file.
 *
 * @example
 * writeRunRecord('artifacts/20261204-0612-ab12', { runId, source: 'photo', target: '日本人女性', routing });
 * // artifacts/20261204-0612-ab12/run.json: { "runId": "…", "source": "photo", …, "routing": { … } }
 */
export function writeRunRecord(runDir: string, fields: Record<string, unknown>): void {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, 'run.json');
  const kept = existsSync(path)
    ? (parseRunJson(readFileSync(path, 'utf8'), path) as Record<string, unknown>)
    : {};
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ ...kept, ...fields }, null, 2)}\n`);
  renameSync(tmp, path);
}

/** JSON.parse for a run's own files, with an error that names the file instead of a token. */
export function parseRunJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new NadaError(
      'run.unreadable',
      `${where} is not valid JSON (${(err as Error).message}): the run's files are damaged; ` +
        'restore them, or start a new run',
      { where },
    );
  }
}
