import type { Redis } from 'ioredis';

/** The operator's limits on runs; 0 turns a limit off. */
export interface QuotaLimits {
  /** runs one person may have queued or running at once */
  maxRunsPerUser: number;
  /** runs one channel may have queued or running at once */
  maxRunsPerChannel: number;
  /** training steps one person may ask for per UTC day */
  dailyStepsPerUser: number;
}

/** Why a run was refused; the chat names the limit in its reply. */
export type QuotaRefusal =
  | { kind: 'user-runs'; limit: number }
  | { kind: 'channel-runs'; limit: number }
  | { kind: 'daily-steps'; limit: number; used: number; asked: number };

export interface QuotaRequest {
  platform: string;
  userId: string;
  channelId: string;
  runId: string;
  steps: number;
}

// A run that never reports its end (a bot killed at the wrong moment) stops counting after
// this long, so a lost release cannot block a person for ever.
const RUN_HOLD_SECONDS = 6 * 3600;

// Checks the three limits and takes the slot in one step, so two commands arriving together
// cannot both take the last one. KEYS: user runs, channel runs, user's steps today.
// ARGV: runId, now (s), hold (s), max per user, max per channel, daily limit, steps, day TTL.
const RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local maxUser, maxChannel = tonumber(ARGV[4]), tonumber(ARGV[5])
if maxUser > 0 and redis.call('ZCARD', KEYS[1]) >= maxUser then return {'user-runs', 0} end
if maxChannel > 0 and redis.call('ZCARD', KEYS[2]) >= maxChannel then return {'channel-runs', 0} end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
local daily, steps = tonumber(ARGV[6]), tonumber(ARGV[7])
if daily > 0 and used + steps > daily then return {'daily-steps', used} end
local expires = tonumber(ARGV[2]) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('INCRBY', KEYS[3], steps)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
return {'ok', used + steps}
`;

/**
 * Per-person and per-channel limits on concurrent runs and a daily step quota per person,
 * kept in Redis so that every bot process counts the same runs.
 *
 * @example
 * const quotas = new Quotas(redis, 'nada', { maxRunsPerUser: 1, maxRunsPerChannel: 3, dailyStepsPerUser: 500 });
 * await quotas.reserve({ platform: 'discord', userId, channelId, runId, steps: 40 });
 * // undefined (taken) or { kind: 'user-runs', limit: 1 }
 */
export class Quotas {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
    readonly limits: QuotaLimits,
  ) {}

  /** Takes a run slot and the steps, or says which limit refuses them. */
  async reserve(req: QuotaRequest, now = new Date()): Promise<QuotaRefusal | undefined> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const [verdict, used] = (await this.redis.eval(
      RESERVE,
      3,
      this.userKey(req),
      this.channelKey(req),
      this.dayKey(req, now),
      req.runId,
      nowSeconds,
      RUN_HOLD_SECONDS,
      this.limits.maxRunsPerUser,
      this.limits.maxRunsPerChannel,
      this.limits.dailyStepsPerUser,
      req.steps,
      secondsToNextUtcDay(now) + 3600,
    )) as [string, number];

    if (verdict === 'user-runs') return { kind: verdict, limit: this.limits.maxRunsPerUser };
    if (verdict === 'channel-runs') return { kind: verdict, limit: this.limits.maxRunsPerChannel };
    if (verdict === 'daily-steps')
      return { kind: verdict, limit: this.limits.dailyStepsPerUser, used, asked: req.steps };
    return undefined;
  }

  /** Frees the run's slot once it has finished, failed or left the queue. */
  async release(req: Omit<QuotaRequest, 'steps'>): Promise<void> {
    await this.redis
      .multi()
      .zrem(this.userKey(req), req.runId)
      .zrem(this.channelKey(req), req.runId)
      .exec();
  }

  /** Steps `userId` has asked for today (UTC). */
  async stepsToday(platform: string, userId: string, now = new Date()): Promise<number> {
    return Number((await this.redis.get(this.dayKey({ platform, userId }, now))) ?? 0);
  }

  private userKey(r: { platform: string; userId: string }): string {
    return `nadabot:${this.queueName}:quota:runs:user:${r.platform}:${r.userId}`;
  }

  private channelKey(r: { platform: string; channelId: string }): string {
    return `nadabot:${this.queueName}:quota:runs:channel:${r.platform}:${r.channelId}`;
  }

  private dayKey(r: { platform: string; userId: string }, now: Date): string {
    const day = now.toISOString().slice(0, 10);
    return `nadabot:${this.queueName}:quota:steps:${day}:${r.platform}:${r.userId}`;
  }
}

function secondsToNextUtcDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((next - now.getTime()) / 1000);
}
