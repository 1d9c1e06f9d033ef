import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { NadaError } from '../errors.ts';
import { logger } from '../log.ts';

/**
 * A Redis connection as BullMQ wants it for workers and event listeners: commands wait for
 * the server instead of failing after a few retries (`maxRetriesPerRequest: null`).
 * While Redis is away the connection retries on its own; `outages` gets one warning when it
 * goes and one line when it answers again (not one per reconnect attempt, and never ioredis's
 * "Unhandled error event" on stderr). Connections that share an `outages` report as one.
 */
export function createRedis(
  redisUrl: string,
  log: Logger = logger,
  outages = new RedisOutages(redisUrl, log),
): Redis {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
  outages.watch(redis);
  return redis;
}

/**
 * Tells an outage of Redis once for a set of connections to it: a warning when the first
 * of them loses the server, one line when the last of them answers again.
 *
 * @example
 * const outages = new RedisOutages(url);
 * const a = createRedis(url, logger, outages);
 * const b = createRedis(url, logger, outages);
 * // Redis stops, then starts: one warning "Redis is not answering at …", one "Redis answers again"
 */
export class RedisOutages {
  private readonly down = new Set<Redis>();

  constructor(
    private readonly redisUrl: string,
    private readonly log: Logger = logger,
  ) {}

  /** Reports the outages of `redis` with the others watched here. */
  watch(redis: Redis): void {
    redis.on('error', (err: Error) => this.lost(redis, err));
    redis.on('ready', () => this.back(redis));
  }

  private lost(redis: Redis, err: Error): void {
    if (this.down.has(redis)) return;
    this.down.add(redis);
    if (this.down.size > 1) return;
    const message = `${redisDownMessage(this.redisUrl)}; retrying`;
    this.log.warn({ redisUrl: this.redisUrl, err: err.message }, message);
  }

  private back(redis: Redis): void {
    if (!this.down.delete(redis) || this.down.size > 0) return;
    this.log.info({ redisUrl: this.redisUrl }, 'Redis answers again');
  }
}

/**
 * True while `redis` is connected. Commands sent otherwise wait in ioredis's offline queue
 * until the server is back (`maxRetriesPerRequest: null`), however long that is.
 */
export function redisConnected(redis: Redis): boolean {
  return redis.status === 'ready';
}

// Errors of the socket to Redis, not of a command: the outage log already tells them.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * True for an error that only says Redis cannot be reached (a refused or dropped socket,
 * ioredis's "Connection is closed."), which BullMQ repeats on every reconnect attempt.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && CONNECTION_ERROR_CODES.has(code)) return true;
  return err.message === 'Connection is closed.';
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
