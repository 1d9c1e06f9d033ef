import type { Redis } from 'ioredis';
import type { LocalMessage } from './local-platform.ts';

/** How many messages the local chat keeps: a reloaded page shows at most these. */
export const LOCAL_HISTORY_LIMIT = 500;

/** A timeline entry before it has its id. */
export type UnsavedMessage = LocalMessage extends infer M
  ? M extends LocalMessage
    ? Omit<M, 'id'>
    : never
  : never;

/**
 * The local chat's timeline in Redis, so that a restarted bot goes on from where it was: ids
 * keep increasing (a page reconnecting with `Last-Event-ID` gets exactly what it lacks) and a
 * reloaded page shows the messages posted before the restart.
 *
 * Redis: a counter `nadabot:<queue>:local:last-id` and a sorted set
 * `nadabot:<queue>:local:messages` of the messages as JSON, scored by id, cut to the newest
 * `limit`. Neither expires: the set is bounded by count, and the counter has to outlive every
 * page that still remembers an id.
 *
 * @example
 * const history = new LocalHistory(redis, 'nada');
 * await history.append({ kind: 'user', text: '/help', time: new Date().toISOString() });
 * // { kind: 'user', text: '/help', time: '2025-…', id: 58 }
 */
export class LocalHistory {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
    readonly limit = LOCAL_HISTORY_LIMIT,
  ) {}

  /** The largest id this process handed out: pages hold messages up to it. */
  private lastId = 0;

  /**
   * Gives `message` the next id and stores it, dropping the oldest beyond `limit`. A Redis
   * that lost its data (restarted without persistence) would count from 1 again, and open
   * pages would take the new messages for ones they show already: ids go on from the
   * largest this process gave instead.
   */
  async append(message: UnsavedMessage): Promise<LocalMessage> {
    let id = await this.redis.incr(this.key('last-id'));
    if (id <= this.lastId) id = await this.redis.incrby(this.key('last-id'), this.lastId - id + 1);
    this.lastId = id;
    const saved = { ...message, id } as LocalMessage;
    await this.redis
      .multi()
      .zadd(this.key('messages'), id, JSON.stringify(saved))
      .zremrangebyrank(this.key('messages'), 0, -this.limit - 1)
      .exec();
    return saved;
  }

  /** The stored messages, oldest first. */
  async load(): Promise<LocalMessage[]> {
    const rows = await this.redis.zrange(this.key('messages'), 0, -1);
    return rows.map((row) => JSON.parse(row) as LocalMessage);
  }

  private key(name: 'last-id' | 'messages'): string {
    return `nadabot:${this.queueName}:local:${name}`;
  }
}
