import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real Redis for a test file: the one `REDIS_URL` names (scripts/test.sh starts one), or
 * a fresh `redis-server` on a free port with persistence off, stopped by `stop()`.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) {
    await waitForRedis(process.env.REDIS_URL);
    return { url: process.env.REDIS_URL, stop: async () => {} };
  }
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  await waitForRedis(url, server);
  return { url, stop: () => stopProcess(server) };
}

/**
 * A `redis-server` of the test's own on `port`, persistence off, for tests that stop Redis
 * (SIGKILL: gone; SIGSTOP: connected but silent) and start it again on the same port.
 */
export function spawnRedis(port: number): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  return spawn('redis-server', args, { stdio: 'ignore' });
}

/** A queue name no other test uses. */
export function freshQueueName(label = 'test'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

async function waitForRedis(url: string, server?: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (server?.exitCode !== null && server?.exitCode !== undefined) {
      throw new Error(`redis-server exited with code ${server.exitCode}`);
    }
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      probe.disconnect();
    }
  }
  throw new Error(`Redis did not answer at ${url}`);
}

/** Sends SIGTERM and waits for the process to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
