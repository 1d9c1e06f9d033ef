import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { createRedis } from '../src/jobs/connection.ts';
import { waitFor } from './fakes/wait.ts';
import { freePort, freshQueueName } from './helpers/redis.ts';

// Pinned by: `redis-cli shutdown nosave` under a running demo. Every connection nadabot made
// had no 'error' listener, so ioredis printed "[ioredis] Unhandled error event" with a stack
// several times a second until Redis came back.

let server: ChildProcess | undefined;
afterEach(() => {
  server?.kill('SIGKILL');
  server = undefined;
});

function startRedisOn(port: number): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  return spawn('redis-server', args, { stdio: 'ignore' });
}

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).trim().split('\n')) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** Resolves after `redis` has emitted `n` more 'error' events (reconnect attempts that failed). */
function failedAttempts(redis: ReturnType<typeof createRedis>, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onError = () => {
      if (++seen < n) return;
      redis.off('error', onError);
      resolve();
    };
    redis.on('error', onError);
  });
}

describe('GIVEN a nadabot Redis connection WHEN Redis is away and comes back', () => {
  it('THEN one warning for the outage, one line on return, no unhandled error events', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const { log, lines } = capturingLogger();
    const stderr: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => stderr.push(args.map(String).join(' '));
    const redis = createRedis(url, log);
    try {
      // nothing listens yet: several reconnect attempts fail
      await failedAttempts(redis, 4);
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0].msg).toBe(
        `Redis is not answering at ${url}: start it with \`redis-server --daemonize yes\` ` +
          'or run `bash scripts/demo.sh`, which starts one; retrying',
      );

      // Redis starts on that port: the connection comes back by itself and says so once
      server = startRedisOn(port);
      await new Promise((resolve) => redis.once('ready', resolve));
      expect(await redis.ping()).toBe('PONG');
      expect(lines.filter((l) => l.msg === 'Redis answers again')).toHaveLength(1);
      expect(stderr.filter((l) => l.includes('Unhandled error event'))).toEqual([]);
    } finally {
      console.error = original;
      redis.disconnect();
    }
  });
});

describe('GIVEN a worker process WHEN Redis is away for a few seconds and comes back', () => {
  // Pinned by: `redis-cli shutdown nosave` under `nadabot worker`: BullMQ's 'error' event on
  // every reconnect attempt became a level-50 "worker error" line, about ten a second.
  it('THEN its log has one warning for the outage, one line on return and no error lines', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const artifacts = await mkdtemp(path.join(tmpdir(), 'nadabot-outage-'));
    server = startRedisOn(port);
    const bin = fileURLToPath(new URL('../bin/nadabot.js', import.meta.url));
    const worker = spawn(process.execPath, [bin, 'worker'], {
      env: {
        ...process.env,
        REDIS_URL: url,
        NADABOT_QUEUE: freshQueueName('outage'),
        NADABOT_ARTIFACTS: artifacts,
        NADABOT_MODEL: 'demo',
        NADABOT_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: { level: number; msg: string }[] = [];
    createInterface({ input: worker.stdout! }).on('line', (l) => lines.push(JSON.parse(l)));
    const logged = (msg: string) => lines.filter((l) => l.msg.startsWith(msg));
    try {
      await waitFor('the worker to be ready', () => logged('worker ready').length, 90_000);

      // Redis goes away for five seconds (several reconnect attempts), then comes back
      server.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 5000));
      server = startRedisOn(port);
      await waitFor('the worker to see Redis again', () => logged('Redis answers again').length);
      await new Promise((resolve) => setTimeout(resolve, 2000));

      expect(logged(`Redis is not answering at ${url}`).map((l) => l.level)).toEqual([40]);
      expect(logged('Redis answers again').map((l) => l.level)).toEqual([30]);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    } finally {
      worker.kill('SIGKILL');
      await rm(artifacts, { recursive: true, force: true });
    }
  }, 150_000);
});
