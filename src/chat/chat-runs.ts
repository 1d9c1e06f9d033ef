import type { Redis } from 'ioredis';

// Runs can be continued for a month; their artifacts may be kept as long by the operator.
const TTL_SECONDS = 30 * 24 * 3600;

export type RunKind = 'new' | 'more' | 'steer' | 'redraw';
export type RunState = 'queued' | 'running' | 'finished' | 'cancelled' | 'failed';

/** What the chat keeps about one run it started, beyond the thread mapping. */
export interface ChatRun {
  runId: string;
  platform: string;
  channelId: string;
  threadId: string;
  kind: RunKind;
  /** the run this one continues (same thread) */
  parentRunId?: string;
  userId: string;
  userName?: string;
  prompt: string;
  source: string;
  seed: number;
  /** steps trained before this run (a `more` run starts where its parent stopped) */
  startStep: number;
  /** steps this run trains */
  steps: number;
  /** the largest file the thread takes, bytes */
  uploadLimitBytes: number;
  state: RunState;
  /** the thread message that shows the queue position, edited as it changes */
  positionMessageId?: string;
  /** the queue line it shows now */
  positionShown?: string;
  /** steps reached, the latest checkpoint (artifact-relative) and the sample count */
  stepReached?: number;
  checkpoint?: string;
  samples?: number;
}

/** A grid the bot posted: what a reaction on that message refers to. */
export interface PostedGrid {
  runId: string;
  threadId: string;
  step: number;
  samples: number;
}

const NUMBERS = ['seed', 'startStep', 'steps', 'uploadLimitBytes', 'stepReached', 'samples'];

/**
 * The chat's Redis records: runs, the open runs of each platform (to catch up after a
 * restart), each run's grids, and which message shows which grid.
 */
export class ChatRuns {
  constructor(
    private readonly redis: Redis,
    private readonly queueName: string,
  ) {}

  /** Stores a new run and lists it as open. */
  async create(run: ChatRun): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key('run', run.runId), toHash(run))
      .expire(this.key('run', run.runId), TTL_SECONDS)
      .sadd(this.key('open', run.platform), run.runId)
      .exec();
  }

  async get(runId: string): Promise<ChatRun | undefined> {
    const hash = await this.redis.hgetall(this.key('run', runId));
    return hash.runId ? fromHash(hash) : undefined;
  }

  /** Changes some fields of a run. */
  async update(runId: string, fields: Partial<ChatRun>): Promise<void> {
    await this.redis.hset(this.key('run', runId), toHash(fields));
  }

  /** Marks a run ended (finished, cancelled or failed): it is no longer open. */
  async end(run: ChatRun, state: RunState): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key('run', run.runId), { state })
      .srem(this.key('open', run.platform), run.runId)
      .exec();
  }

  /** Ids of the runs of `platform` that have not ended. */
  async open(platform: string): Promise<string[]> {
    return this.redis.smembers(this.key('open', platform));
  }

  /** Appends a grid (artifact-relative path) to the run's list; false when already there. */
  async addGrid(runId: string, path: string): Promise<boolean> {
    const added = await this.redis.zadd(this.key('grids', runId), 'NX', gridOrder(path), path);
    await this.redis.expire(this.key('grids', runId), TTL_SECONDS);
    return added === 1;
  }

  /** The run's grids in step order. */
  async grids(runId: string): Promise<string[]> {
    return this.redis.zrange(this.key('grids', runId), 0, -1);
  }

  /** Remembers that `messageId` shows a grid. */
  async rememberGrid(platform: string, messageId: string, grid: PostedGrid): Promise<void> {
    const key = this.key('message', `${platform}:${messageId}`);
    await this.redis.set(key, JSON.stringify(grid), 'EX', TTL_SECONDS);
  }

  /** The grid a message shows, when the bot posted one there. */
  async gridOf(platform: string, messageId: string): Promise<PostedGrid | undefined> {
    const json = await this.redis.get(this.key('message', `${platform}:${messageId}`));
    return json ? (JSON.parse(json) as PostedGrid) : undefined;
  }

  private key(kind: string, id: string): string {
    return `nadabot:${this.queueName}:chat:${kind}:${id}`;
  }
}

// `…/step-000040.png` sorts by its step.
function gridOrder(path: string): number {
  return Number(/step-(\d+)\./.exec(path)?.[1] ?? 0);
}

function toHash(run: Partial<ChatRun>): Record<string, string> {
  const hash: Record<string, string> = {};
  for (const [k, v] of Object.entries(run)) if (v !== undefined) hash[k] = String(v);
  return hash;
}

function fromHash(hash: Record<string, string>): ChatRun {
  const run: Record<string, unknown> = { ...hash };
  for (const k of NUMBERS) if (hash[k] !== undefined) run[k] = Number(hash[k]);
  return run as unknown as ChatRun;
}
