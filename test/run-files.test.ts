import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { writeSafetensors } from '../src/models/weights/safetensors.ts';
import { CHECKPOINT_FORMAT, readCheckpoint, readCheckpointMeta } from '../src/nada/checkpoint.ts';
import { writeRunRecord } from '../src/nada/run-record.ts';

// A run folder damaged by hand or by a full disk: the error names the file, not a token.
// Pinned by: garbage in run.json said only `Unexpected token 'g', "garbage{…" is not valid
// JSON`, and a checkpoint's bad metadata `Expected property name or '}' in JSON at position 1`.

const root = mkdtempSync(join(tmpdir(), 'nadabot-run-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('no error');
}

describe('GIVEN a run folder with damaged files', () => {
  it('WHEN run.json is not JSON THEN writing the record names it and leaves it as it was', () => {
    const runDir = join(root, 'garbage-record');
    writeRunRecord(runDir, { target: 'sketch' });
    writeFileSync(join(runDir, 'run.json'), 'garbage{');

    const err = caught(() => writeRunRecord(runDir, { target: 'oil painting' }));
    expect(isNadaError(err, 'run.unreadable')).toBe(true);
    expect(err.message).toContain(`${join(runDir, 'run.json')} is not valid JSON`);
    expect(readFileSync(join(runDir, 'run.json'), 'utf8')).toBe('garbage{');
  });

  it("WHEN a checkpoint's metadata is not JSON THEN reading it names the checkpoint", () => {
    const path = join(root, 'bad-meta.safetensors');
    const w = { dtype: 'F32' as const, shape: [1], data: new Float32Array([1]) };
    writeSafetensors(
      path,
      { 'convs.0.conv.weight': w },
      {
        format: CHECKPOINT_FORMAT,
        nadabot: '{bad',
      },
    );

    for (const read of [readCheckpoint, readCheckpointMeta]) {
      const err = caught(() => read(path));
      expect(isNadaError(err, 'run.unreadable')).toBe(true);
      expect(err.message).toMatch(new RegExp(`^${path}'s nadabot metadata is not valid JSON`));
    }
  });

  it('WHEN a checkpoint is cut inside its header THEN reading its metadata alone says so', () => {
    const path = join(root, 'cut.safetensors');
    const w = { dtype: 'F32' as const, shape: [1], data: new Float32Array([1]) };
    writeSafetensors(path, { w }, { format: CHECKPOINT_FORMAT, nadabot: '{"runId":"r1"}' });
    expect(readCheckpointMeta(path)).toEqual({ runId: 'r1' });

    writeFileSync(path, readFileSync(path).subarray(0, 20));
    const err = caught(() => readCheckpointMeta(path));
    expect(isNadaError(err, 'weights.truncated')).toBe(true);
    expect(err.message).toMatch(/ends at byte 20, its header says it needs \d+/);
  });
});
