import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../src/nada/checkpoint.ts';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function adapt(args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/nadabot.js', 'adapt', ...args], {
      env: { ...process.env, NADABOT_MODEL: 'demo', NADABOT_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// small settings so each run takes seconds on the demo model
const QUICK = ['--auto-layer-k', '3', '--auto-layer-batch', '2', '--output-interval', '2'];

describe('nadabot adapt with the engine options', () => {
  let dir: string;
  let first: string;
  let firstLossLine: RegExpExecArray | null;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'nadabot-cli-'));
    first = path.join(dir, 'first');
    const run = await adapt([
      'bronze statue',
      '--steps',
      '2',
      '--seed',
      '11',
      '--lambda-global',
      '0.5',
      '--out',
      first,
      ...QUICK,
    ]);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.code).toBe(0);
    firstLossLine = /^loss (\d\.\d{4}) at the run's first step → \d\.\d{4} at step 2$/m.exec(
      run.stdout,
    );
    expect(firstLossLine).not.toBeNull();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('GIVEN engine options THEN the checkpoint records them', () => {
    const { meta } = readCheckpoint(path.join(first, 'checkpoints', 'latest.safetensors'));
    expect(meta.step).toBe(2);
    expect(meta.seed).toBe(11);
    expect(meta.options).toMatchObject({ lambdaGlobal: 0.5, autoLayerK: 3, autoLayerBatch: 2 });
  });

  it('GIVEN a finished run WHEN --resume RUN --steps 2 THEN it trains on in the same folder to step 4', async () => {
    const run = await adapt(['--resume', first, '--steps', '2']);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(path.join(first, 'grids', 'step-000004.png'));
    // the loss line starts from the run's first step, not from the resumed part's
    expect(run.stdout).toMatch(
      new RegExp(
        `^loss ${firstLossLine![1]} at the run's first step → \\d\\.\\d{4} at step 4$`,
        'm',
      ),
    );
    const { meta } = readCheckpoint(path.join(first, 'checkpoints', 'latest.safetensors'));
    expect(meta.step).toBe(4);
    expect(meta.target).toBe('bronze statue');
    expect(meta.options).toMatchObject({ lambdaGlobal: 0.5 });
  });

  it('GIVEN a run WHEN --continue RUN with a new prompt THEN a new run starts from it, the old target as source', async () => {
    const next = path.join(dir, 'next');
    const run = await adapt([
      'Skizze',
      '--continue',
      first,
      '--steps',
      '2',
      '--out',
      next,
      ...QUICK,
    ]);

    expect(run.code).toBe(0);
    const { meta } = readCheckpoint(path.join(next, 'checkpoints', 'latest.safetensors'));
    expect(meta.target).toBe('Skizze');
    expect(meta.source).toBe('bronze statue');
    expect(meta.chain).toEqual(['bronze statue']);
    expect(meta.frozenFrom.kind).toBe('checkpoint');
    expect(readdirSync(path.join(next, 'grids'))).toContain('step-000002.png');
  });

  it.each([
    [['--resume', 'x', 'a prompt'], /to steer it toward "a prompt" use --continue/],
    [['--resume', 'x', '--lr', '0.1'], /keeps its checkpoint's settings, so --lr cannot change/],
    [['--resume', 'x', '--continue', 'y'], /not both/],
    [[], /give the prompt/],
    [['--resume', 'no-such-run'], /no run "no-such-run"/],
    [['cat', '--lr', '-1'], /--lr must be a number above 0/],
    [['cat', '--clip', 'ViT-B/32=heavy'], /--clip takes NAME or NAME=WEIGHT/],
  ])('GIVEN %j THEN one line says what is wrong and nothing trains', async (args, message) => {
    const out = path.join(dir, 'refused');
    const run = await adapt([...args, '--out', out]);

    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toContain('backend:');
    expect(existsSync(path.join(out, 'grids'))).toBe(false);
  });
});
