import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { NadaError } from '../errors.ts';

/**
 * Creates a folder one level at a time and checks it can be written, so a bad setting gives
 * one error naming it: a file in the way, a place that cannot hold folders, no permission.
 * `setting` names where the path came from (`--out`, `NADABOT_ARTIFACTS`). (Node's recursive
 * mkdir never returns for a missing folder under /proc.)
 *
 * @example
 * makeWritableFolder('/proc/x/run', '--out');
 * // throws: --out /proc/x/run: cannot make the run's folder there (ENOENT); name a folder …
 */
export function makeWritableFolder(dir: string, setting: string): void {
  // the nearest folder that exists, and the levels to create below it
  const missing: string[] = [];
  let parent = dir;
  while (!existsSync(parent) && path.dirname(parent) !== parent) {
    missing.unshift(parent);
    parent = path.dirname(parent);
  }
  if (!statSync(parent).isDirectory()) throw folderError(dir, setting, `${parent} is a file`);
  try {
    for (const level of missing) mkdirSync(level);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw folderError(dir, setting, (err as NodeJS.ErrnoException).code ?? String(err));
  }
}

function folderError(dir: string, setting: string, why: string): NadaError {
  return new NadaError(
    'run.folder',
    `${setting} ${dir}: cannot make the run's folder there (${why}); name a folder ` +
      'nadabot may write to (it is created if missing)',
    { dir, setting },
  );
}
