import { Queue, type ConnectionOptions } from 'bullmq';
import { logger } from '../log.ts';
import { isConnectionError } from './connection.ts';
import type { AdaptJob, AdaptJobResult } from './job-schema.ts';

/** Queue name of adaptation runs when `NADABOT_QUEUE` is not set. */
export const DEFAULT_QUEUE_NAME = 'nada';

/** Redis pub/sub channel on which bots ask workers to stop a run of `queueName`. */
export function cancelChannel(queueName: string): string {
  return `nadabot:${queueName}:cancel`;
}

export type AdaptQueue = Queue<AdaptJob, AdaptJobResult, string>;

/**
 * The BullMQ queue of adaptation runs. Close it with `queue.close()`. An unreachable Redis is
 * left to the connection's outage log (`createRedis`); other errors are logged.
 */
export function createAdaptQueue(queueName: string, connection: ConnectionOptions): AdaptQueue {
  const queue = new Queue<AdaptJob, AdaptJobResult, string>(queueName, { connection });
  queue.on('error', (err) => {
    if (!isConnectionError(err)) logger.error({ err, queue: queueName }, 'queue error');
  });
  return queue;
}
