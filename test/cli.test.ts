import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/redis.ts';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/nadabot.js', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const STACK_LINE = /^\s+at /m;

describe('nadabot CLI', () => {
  it.each([['bot'], ['worker'], ['demo']])(
    'GIVEN no Redis WHEN `nadabot %s` starts THEN it prints one line saying how to start Redis',
    async (command) => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const { code, stderr } = await runCli([command], { REDIS_URL: url, NADABOT_PORT: '0' });

      expect(code).not.toBe(0);
      expect(stderr.trim()).toBe(
        `nadabot: Redis is not answering at ${url}: start it with \`redis-server --daemonize yes\` ` +
          'or run `bash scripts/demo.sh`, which starts one',
      );
      expect(stderr).not.toMatch(STACK_LINE);
    },
  );

  it('GIVEN a bad setting THEN it stops before Redis, naming the variable', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const { code, stderr } = await runCli(['bot'], { REDIS_URL: url, NADABOT_PORT: 'eighty' });
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^nadabot: NADABOT_PORT must be a whole number from 0 to 65535, got "eighty"/,
    );
    expect(stderr).not.toContain('Redis');
    expect(stderr).not.toMatch(STACK_LINE);
  });

  it('GIVEN an empty prompt to `nadabot adapt` THEN it says so without loading a model', async () => {
    const { code, stderr } = await runCli(['adapt', '\u200b'], {});
    expect(code).toBe(1);
    expect(stderr).toMatch(/^nadabot: The prompt has only invisible characters/);
    expect(stderr).not.toContain('backend');
  });

  it('GIVEN --version THEN it prints the package version and exits 0', async () => {
    const { code, stdout } = await runCli(['--version'], {});
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('GIVEN an artifact store that cannot be made WHEN `nadabot worker` starts THEN one line names NADABOT_ARTIFACTS, before any model loads', async () => {
    const redisUrl = process.env.REDIS_URL;
    if (!redisUrl) throw new Error('REDIS_URL is not set: run the tests with scripts/test.sh');
    const { code, stderr } = await runCli(['worker'], {
      REDIS_URL: redisUrl,
      NADABOT_ARTIFACTS: '/proc/nadabot-no-such/artifacts',
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^nadabot: NADABOT_ARTIFACTS \/proc\/nadabot-no-such\/artifacts: cannot make the run's folder there \(ENOENT\)/,
    );
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(STACK_LINE);
  });
});
