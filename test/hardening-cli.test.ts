import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `nadabot adapt` driven as a person would, with a bad --out and prompts refused by the
// command's check or by the engine.
// Pinned by: `--out /proc/nope` never returned (Node's recursive mkdir loops there), `--out`
// naming a file failed only after the models loaded, with a raw ENOTDIR, and every engine
// refusal printed a pino JSON line with a stack before the one readable line.

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'nadabot-hardening-cli-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function adapt(args: string[]): Promise<Exit> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NADABOT_ARTIFACTS: scratch };
    delete env.NADABOT_LOG_LEVEL;
    const child = spawn(process.execPath, ['bin/nadabot.js', 'adapt', ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

const advice = 'name a folder nadabot may write to (it is created if missing)';

describe('GIVEN nadabot adapt WHEN --out cannot be a folder', () => {
  it('AND it names a file THEN one line names it, before any model loads', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    const exit = await adapt(['sketch', '--steps', '1', '--out', join(file, 'run')]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      `nadabot: --out ${join(file, 'run')}: cannot make the run's folder there ` +
        `(${file} is a file); ${advice}\n`,
    );
  });

  it('AND it lies under /proc THEN it answers with one line instead of hanging', async () => {
    const exit = await adapt(['sketch', '--steps', '1', '--out', '/proc/nadabot-no-such/run']);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      `nadabot: --out /proc/nadabot-no-such/run: cannot make the run's folder there (ENOENT); ${advice}\n`,
    );
  });

  it('AND it holds another run THEN it is refused and that run is left as it was', async () => {
    const run = join(scratch, 'earlier-run');
    mkdirSync(join(run, 'checkpoints'), { recursive: true });
    writeFileSync(join(run, 'run.json'), '{"target":"bronze statue"}');
    const exit = await adapt(['cat', '--steps', '1', '--out', run]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      `nadabot: --out ${run} holds a run already: pick another folder, or train that run ` +
        `further with \`nadabot adapt --resume ${run}\`\n`,
    );
    expect(readFileSync(join(run, 'run.json'), 'utf8')).toBe('{"target":"bronze statue"}');
    expect(readdirSync(run).sort()).toEqual(['checkpoints', 'run.json']);
  });
});

describe('GIVEN nadabot adapt WHEN the engine refuses the prompt', () => {
  it('AND CLIP reads "sketch ." and the source "sketch." alike THEN the backend and one line, no log lines', async () => {
    // the texts differ, so the command's check passes; CLIP's tokenizer gives both the same ids
    const out = join(scratch, 'no-direction');
    const exit = await adapt(['sketch .', '--source', 'sketch.', '--steps', '1', '--out', out]);
    expect(exit.code).toBe(1);
    const lines = exit.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^backend: /);
    expect(lines.slice(1)).toEqual([
      'nadabot: the target and source texts mean the same thing to CLIP (their text direction ' +
        'has zero length): describe the target differently',
    ]);
    expect(exit.stdout).toBe(''); // no log line with a stack trace either
    expect(existsSync(join(out, 'grids'))).toBe(false);
  });
});

describe('GIVEN nadabot adapt WHEN the prompt normalises to the source', () => {
  it('AND it is "ph<ZWJ>oto" against the source photo THEN one line before any model loads', async () => {
    // the command's check normalises as the engine does; this once reached the engine
    const out = join(scratch, 'zwj');
    const exit = await adapt(['ph\u200doto', '--steps', '1', '--out', out]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      'nadabot: The prompt photo is the same as the source photo, so there is no direction ' +
        'to train toward. Name a different target, or set another source with --source <text>.\n',
    );
    expect(exit.stdout).toBe('');
    expect(existsSync(out)).toBe(false);
  });
});
