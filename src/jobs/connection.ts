import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { NadaError } from '../errors.ts';
import { logger } from '../log.ts';

/**
 * A Redis connection as BullMQ wants it for workers and event listeners: commands wait for
 * the server instead of failing after a few retries (`maxRetriesPerRequest: null`).
 * While Redis is away the connection retries on its own; `log` gets one warning when it goes
 * and one line when it answers again (not one per reconnect attempt, and never ioredis's
 * "Unhandled error event" on stderr).
 */
export function createRedis(redisUrl: string, log: Logger = logger): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
  reportOutages(redis, redisUrl, log);
  return redis;
}

function reportOutages(redis: Redis, redisUrl: string, log: Logger): void {
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ redisUrl, err: err.message }, `${redisDownMessage(redisUrl)}; retrying`);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ redisUrl }, 'Redis answers again');
  });
}

/** The sentence a person sees when Redis is down; it says how to start one. */
export function redisDownMessage(redisUrl: string): string {
  return (
    `Redis is not answering at ${redisUrl}: start it with \`redis-server --daemonize yes\` ` +
    'or run `bash scripts/demo.sh`, which starts one'
  );
}

/**
 * Checks that Redis answers a PING within `timeoutMs`. Call once at start-up, before any
 * queue is made, so a missing server gives one clear line instead of endless reconnects.
 *
 * @throws NadaError `redis.unreachable` with the sentence from `redisDownMessage`
 */
export async function assertRedisReachable(redisUrl: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // A refused connection is reported through the promise below; keep it off 'error'.
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (cause) {
    throw new NadaError('redis.unreachable', redisDownMessage(redisUrl), {
      redisUrl,
      cause: String(cause),
    });
  } finally {
    probe.disconnect();
  }
}
