import { QueueEvents, type ConnectionOptions } from 'bullmq';
import { logger } from '../log.ts';
import { isConnectionError } from './connection.ts';
import { adaptResultSchema, type AdaptJobResult } from './job-schema.ts';
import { parseProgress, type RunProgress } from './progress.ts';

/** What a listener hears about runs, whichever worker runs them. */
export interface RunEventHandlers {
  /** a worker took the job (queue positions of the others changed) */
  onActive?: (jobId: string) => void | Promise<void>;
  onProgress?: (jobId: string, progress: RunProgress) => void | Promise<void>;
  onCompleted?: (jobId: string, result: AdaptJobResult) => void | Promise<void>;
  onFailed?: (jobId: string, reason: string) => void | Promise<void>;
}

/**
 * Opens the event stream of `queueName`; resolves once it listens. Close with `close()`.
 * An unreachable Redis is left to the connection's outage log; other errors are logged.
 */
export async function openRunEvents(
  queueName: string,
  connection: ConnectionOptions,
): Promise<QueueEvents> {
  const events = new QueueEvents(queueName, { connection });
  events.on('error', (err) => {
    if (!isConnectionError(err)) logger.error({ err, queue: queueName }, 'queue events error');
  });
  await events.waitUntilReady();
  return events;
}

/**
 * Subscribes to progress, completion and failure of every run on the queue. Handlers run one
 * at a time in the order the events were published, so a thread's posts keep their order.
 * Returns a function that unsubscribes.
 */
export function subscribeRunEvents(events: QueueEvents, handlers: RunEventHandlers): () => void {
  let chain = Promise.resolve();
  const inOrder = (label: string, task: () => void | Promise<void>) => {
    chain = chain
      .then(task)
      .catch((err: unknown) => logger.error({ err, event: label }, 'run event handler failed'));
  };

  const onActive = ({ jobId }: { jobId: string }) =>
    inOrder('active', () => handlers.onActive?.(jobId));
  const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
    const progress = parseProgress(data);
    if (progress) inOrder('progress', () => handlers.onProgress?.(jobId, progress));
  };
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) =>
    inOrder('completed', () => handlers.onCompleted?.(jobId, parseResult(returnvalue)));
  const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) =>
    inOrder('failed', () => handlers.onFailed?.(jobId, failedReason));

  events.on('active', onActive);
  events.on('progress', onProgress);
  events.on('completed', onCompleted);
  events.on('failed', onFailed);
  return () => {
    events.off('active', onActive);
    events.off('progress', onProgress);
    events.off('completed', onCompleted);
    events.off('failed', onFailed);
  };
}

// QueueEvents hands the return value over as parsed JSON, or as the JSON text in some paths.
function parseResult(value: unknown): AdaptJobResult {
  const data = typeof value === 'string' ? JSON.parse(value) : value;
  return adaptResultSchema.parse(data);
}
