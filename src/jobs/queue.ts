import { Queue, type ConnectionOptions } from 'bullmq';
import type { AdaptJob, AdaptJobResult } from './job-schema.ts';

/** Queue name of adaptation runs when `NADABOT_QUEUE` is not set. */
export const DEFAULT_QUEUE_NAME = 'nada';

/** Redis pub/sub channel on which bots ask workers to stop a run of `queueName`. */
export function cancelChannel(queueName: string): string {
  return `nadabot:${queueName}:cancel`;
}

export type AdaptQueue = Queue<AdaptJob, AdaptJobResult, string>;

/** The BullMQ queue of adaptation runs. Close it with `queue.close()`. */
export function createAdaptQueue(queueName: string, connection: ConnectionOptions): AdaptQueue {
  return new Queue<AdaptJob, AdaptJobResult, string>(queueName, { connection });
}
