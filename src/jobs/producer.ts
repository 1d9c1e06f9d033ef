import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ADAPT_JOB_NAME, adaptJobSchema, type AdaptJob } from './job-schema.ts';
import { cancelChannel, type AdaptQueue } from './queue.ts';

// Finished runs stay visible for a week (the chat may look them up), at most 1,000 of them.
const KEEP_FINISHED = { age: 7 * 24 * 3600, count: 1000 };

/** A new run id: UTC time plus random hex, sortable and safe as a folder name. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export type AdaptRequest = Omit<AdaptJob, 'runId' | 'requestedAt'> &
  Partial<Pick<AdaptJob, 'runId' | 'requestedAt'>>;

export interface Enqueued {
  jobId: string;
  runId: string;
  /** runs that start before this one (0: it is next or already running) */
  position: number;
}

/**
 * Checks the request against the job schema and puts it on the queue; the job id is the run
 * id. Returns the id and how many runs are ahead.
 *
 * @example
 * await enqueueAdaptation(queue, { prompt: '日本人女性', source: 'photo', steps: 40, ... });
 * // { jobId: '20261203-191344-a1b2c3', runId: '20261203-191344-a1b2c3', position: 0 }
 */
export async function enqueueAdaptation(
  queue: AdaptQueue,
  request: AdaptRequest,
): Promise<Enqueued> {
  const data = adaptJobSchema.parse({
    ...request,
    runId: request.runId ?? newRunId(),
    requestedAt: request.requestedAt ?? new Date().toISOString(),
  });
  const job = await queue.add(ADAPT_JOB_NAME, data, {
    jobId: data.runId,
    attempts: 1,
    removeOnComplete: KEEP_FINISHED,
    removeOnFail: KEEP_FINISHED,
  });
  const jobId = job.id ?? data.runId;
  return { jobId, runId: data.runId, position: (await queuePosition(queue, jobId)) ?? 0 };
}

/**
 * How many runs start before `jobId`: the active ones plus the waiting ones ahead of it.
 * 0 when it is running or next with a free worker; undefined when it is no longer queued.
 */
export async function queuePosition(queue: AdaptQueue, jobId: string): Promise<number | undefined> {
  const [activeIds, waitingIds] = await Promise.all([
    queue.getRanges(['active'], 0, -1, true),
    queue.getRanges(['wait', 'prioritized'], 0, -1, true),
  ]);
  if (activeIds.includes(jobId)) return 0;

  const index = waitingIds.indexOf(jobId);
  return index < 0 ? undefined : activeIds.length + index;
}

export type CancelOutcome = 'removed' | 'signalled' | 'not-running';

/**
 * Stops a run: a waiting job is taken off the queue; an active one is asked to stop, which
 * its worker does between two steps (leaving a checkpoint).
 */
export async function cancelAdaptation(
  queue: AdaptQueue,
  publisher: Redis,
  jobId: string,
): Promise<CancelOutcome> {
  const job = await queue.getJob(jobId);
  const state = job ? await job.getState() : 'unknown';

  if (job && (state === 'waiting' || state === 'prioritized' || state === 'delayed')) {
    await job.remove();
    return 'removed';
  }
  if (state === 'active') {
    await publisher.publish(cancelChannel(queue.name), jobId);
    return 'signalled';
  }
  return 'not-running';
}
