import type { Redis } from 'ioredis';

// Favourites stay as long as a thread can be continued, and a little longer.
const TTL_SECONDS = 30 * 24 * 3600;

/**
 * The samples people marked in a thread, by their number (1-based, the number on the final
 * grid). Kept per thread, so they carry across continuations: every run of a thread draws
 * the same sample latents. A sample stays marked while anyone's reaction is on it.
 *
 * Redis: a set `nadabot:<queue>:favourites:<platform>:<threadId>` of `<sample>:<userId>`.
 */
export class Favourites {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
  ) {}

  /** Marks `sample` for `userId`. */
  async mark(platform: string, threadId: string, sample: number, userId: string): Promise<void> {
    const key = this.key(platform, threadId);
    await this.redis.multi().sadd(key, `${sample}:${userId}`).expire(key, TTL_SECONDS).exec();
  }

  /** Takes back `userId`'s mark on `sample`. */
  async unmark(platform: string, threadId: string, sample: number, userId: string): Promise<void> {
    await this.redis.srem(this.key(platform, threadId), `${sample}:${userId}`);
  }

  /**
   * The marked sample numbers of the thread, ascending.
   *
   * @example
   * await favourites.list('discord', thread); // [2, 5]
   */
  async list(platform: string, threadId: string): Promise<number[]> {
    const members = await this.redis.smembers(this.key(platform, threadId));
    const samples = new Set(members.map((m) => Number(m.slice(0, m.indexOf(':')))));
    return [...samples].filter(Number.isInteger).sort((a, b) => a - b);
  }

  private key(platform: string, threadId: string): string {
    return `nadabot:${this.queueName}:favourites:${platform}:${threadId}`;
  }
}
