import type { Redis } from 'ioredis';
import type { ReplyTarget } from '../jobs/job-schema.ts';

// Runs are looked up for a week after they start, like the finished jobs themselves.
const TTL_SECONDS = 7 * 24 * 3600;

/** What the chat remembers about a run, in Redis so any bot process can post for it. */
export interface RunRecord extends ReplyTarget {
  runId: string;
  prompt: string;
  steps: number;
}

/**
 * The thread ↔ run mapping, kept in Redis under the queue's name:
 * `nadabot:<queue>:run:<runId>` (a hash) and `nadabot:<queue>:thread:<platform>:<threadId>`.
 */
export class ThreadRuns {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
  ) {}

  /** Remembers which thread a run posts to. */
  async save(record: RunRecord): Promise<void> {
    const runKey = this.runKey(record.runId);
    const threadKey = this.threadKey(record.platform, record.threadId);
    await this.redis
      .multi()
      .hset(runKey, { ...record, steps: String(record.steps) })
      .expire(runKey, TTL_SECONDS)
      .set(threadKey, record.runId, 'EX', TTL_SECONDS)
      .exec();
  }

  /** The run record, or undefined for a run this chat did not start. */
  async byRun(runId: string): Promise<RunRecord | undefined> {
    const hash = await this.redis.hgetall(this.runKey(runId));
    if (!hash.runId) return undefined;
    return {
      runId: hash.runId,
      prompt: hash.prompt,
      steps: Number(hash.steps),
      platform: hash.platform,
      channelId: hash.channelId,
      threadId: hash.threadId,
    };
  }

  /** The id of the run posting into this thread, if any. */
  async byThread(platform: string, threadId: string): Promise<string | undefined> {
    return (await this.redis.get(this.threadKey(platform, threadId))) ?? undefined;
  }

  /**
   * True for the first caller only: with several bot processes on one platform, each hears
   * every event, and the one that claims it posts it.
   */
  async claim(runId: string, eventKey: string): Promise<boolean> {
    const key = `nadabot:${this.queueName}:posted:${runId}:${eventKey}`;
    return (await this.redis.set(key, '1', 'EX', TTL_SECONDS, 'NX')) === 'OK';
  }

  private runKey(runId: string): string {
    return `nadabot:${this.queueName}:run:${runId}`;
  }

  private threadKey(platform: string, threadId: string): string {
    return `nadabot:${this.queueName}:thread:${platform}:${threadId}`;
  }
}
