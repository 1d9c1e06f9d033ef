import { existsSync } from 'node:fs';
import path from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../src/config.ts';
import { isNadaError } from '../src/errors.ts';
import {
  assertRedisReachable,
  createRedis,
  isConnectionError,
  RedisOutages,
} from '../src/jobs/connection.ts';
import { adaptJobSchema, type AdaptJob, type AdaptJobResult } from '../src/jobs/job-schema.ts';
import { cancelChannel } from '../src/jobs/queue.ts';
import { logger } from '../src/log.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { latestPath, readCheckpoint } from '../src/nada/checkpoint.ts';
import { runAdaptation } from '../src/nada/engine.ts';
import { disposeEngineModels, loadEngineModels, type EngineModels } from '../src/nada/models.ts';
import { makeWritableFolder } from '../src/nada/run-folder.ts';
import type { EngineEvent } from '../src/nada/types.ts';
import { openUnderstoodAs } from '../src/nada/understood.ts';
import { ProgressReporter } from './progress-reporter.ts';
import { redrawSamples } from './redraw.ts';
import { StepLock } from './step-lock.ts';

// A job's lock, which BullMQ renews every LOCK_MS / 2 at the latest while the event loop is
// free. A killed worker's lock runs out within 30 s and the next stalled-job check (every
// STALLED_CHECK_MS, in any worker) puts its job back in the queue: within 45 s of the kill.
// Steps slower than LOCK_MS / 4 get a longer lock before each one (StepLock).
const LOCK_MS = 30_000;
const STALLED_CHECK_MS = 15_000;

export interface RunningWorker {
  worker: Worker<AdaptJob, AdaptJobResult>;
  close(): Promise<void>;
}

/**
 * Starts the worker process's job loop: checks Redis, picks the tfjs backend, loads the
 * models once, then takes adaptation jobs one at a time (concurrency 1: one model per
 * device). A `/stop` published by a bot aborts the running job between two steps.
 *
 * @example
 * const running = await startNadaWorker(loadConfig());
 * // logs: backend chosen, models loaded, "worker ready"
 */
export async function startNadaWorker(config: Config): Promise<RunningWorker> {
  await assertRedisReachable(config.redisUrl);
  // the artifact store, before any model loads: a bad NADABOT_ARTIFACTS stops the worker here
  makeWritableFolder(config.artifactsDir, 'NADABOT_ARTIFACTS');

  // backend and models, once for every job
  const backend = await selectBackend(config.backend);
  logger.info({ backend: backend.name, reason: backend.reason }, 'tfjs backend chosen');
  const models = await loadEngineModels(config.modelId, undefined, {
    textEncodersFile: config.textEncodersFile,
  });
  const multilingual = models.multilingual?.map((e) => `${e.id} → ${e.space}`);
  logger.info(
    { model: models.id, clips: models.clips.map((c) => c.name), multilingual },
    'models loaded',
  );

  // the understood-as lists, embedded once (cached on disk) so each run only looks them up
  await openUnderstoodAs(models, { cacheDir: config.cacheDir, log: logger });

  // the BullMQ worker; its connections tell a Redis outage once, together
  const outages = new RedisOutages(config.redisUrl);
  const connection = createRedis(config.redisUrl, logger, outages);
  const shutdown = { requested: false };
  const stepLock = new StepLock(LOCK_MS);
  const worker = new Worker<AdaptJob, AdaptJobResult>(
    config.queueName,
    (job, token, signal) =>
      processAdaptJob(job, { config, models, signal, token, shutdown, stepLock }),
    {
      connection,
      concurrency: 1,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: 1,
    },
  );
  worker.on('failed', (job, err) =>
    logger.warn({ jobId: job?.id, err: err.message }, 'job failed'),
  );
  worker.on('error', (err) => {
    // BullMQ repeats an unreachable Redis on every reconnect; `outages` tells it once
    if (isConnectionError(err)) return;
    logger.error({ err }, 'worker error');
  });

  // stop requests from the bots
  const subscriber = await listenForCancel(config, worker, outages);
  await worker.waitUntilReady();
  logger.info({ queue: config.queueName }, 'worker ready');

  return {
    worker,
    // the running job stops after its current step and goes back to the queue
    close: async () => {
      shutdown.requested = true;
      worker.cancelAllJobs('worker shutting down');
      await worker.close();
      subscriber.disconnect();
      connection.disconnect();
      disposeEngineModels(models);
    },
  };
}

async function listenForCancel(
  config: Config,
  worker: Worker,
  outages: RedisOutages,
): Promise<Redis> {
  const subscriber = createRedis(config.redisUrl, logger, outages);
  await subscriber.subscribe(cancelChannel(config.queueName));
  subscriber.on('message', (_channel, jobId: string) => {
    if (worker.cancelJob(jobId, 'stop requested')) logger.info({ jobId }, 'stopping run');
  });
  return subscriber;
}

interface JobContext {
  config: Config;
  models: EngineModels;
  signal?: AbortSignal;
  /** the job's lock token, to hand the job back to the queue */
  token?: string;
  /** set when the worker is shutting down: a stopped run then waits for another worker */
  shutdown?: { requested: boolean };
  /** the worker's step times, to keep the job's lock through slow steps */
  stepLock?: StepLock;
}

/**
 * Runs one adaptation job: checks the payload, resumes from the run's latest checkpoint
 * when a crashed worker left one, runs the engine and reports each of its events as job
 * progress. Coded errors (bad prompt, missing model) fail the job without a retry.
 */
export async function processAdaptJob(
  job: Job<AdaptJob>,
  ctx: JobContext,
): Promise<AdaptJobResult> {
  const log = logger.child({ jobId: job.id });

  // check the payload
  const parsed = adaptJobSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`bad job payload: ${parsed.error.message}`);
  const data = parsed.data;
  const runDir = path.join(ctx.config.artifactsDir, data.runId);
  const reporter = new ProgressReporter(job, ctx.config.artifactsDir);
  try {
    makeWritableFolder(runDir, 'NADABOT_ARTIFACTS');
  } catch (err) {
    return failJob(reporter, err);
  }

  // new samples from a finished run: no training
  if (data.redrawFrom) return redrawJob(data, ctx, runDir, reporter);

  // resume where a previous attempt stopped, else start where the parent run stopped
  const start = startPoint(runDir, data, ctx.config.artifactsDir);
  if (start.ownStep) log.info(start, 'resuming from checkpoint');

  // run the engine, each event becoming job progress; slow steps keep the job's lock
  const onEvent = (e: EngineEvent) => {
    if (e.type === 'step') ctx.stepLock?.stepTook(e.msPerStep);
    return reporter.report(e);
  };
  const beforeStep = async () => ctx.stepLock?.beforeStep(job, ctx.token);
  try {
    const result = await runAdaptation(
      {
        target: data.prompt,
        source: data.source,
        steps: start.steps,
        seed: data.seed,
        batch: ctx.config.training.batch,
        outputInterval: data.outputInterval,
        nSample: ctx.config.training.previewSamples,
        runDir,
        runId: data.runId,
        model: ctx.config.modelId,
        resumeFrom: start.resumeFrom,
        continueFrom: start.continueFrom,
      },
      { models: ctx.models, signal: ctx.signal, logger: log, onEvent, beforeStep },
    );
    reporter.throwIfFailed();
    if (result.cancelled && ctx.shutdown?.requested) await handBack(job, ctx.token);
    return reporter.summary(result);
  } catch (err) {
    if (err instanceof WaitingError) throw err;
    return failJob(reporter, err);
  }
}

// Tells the thread why the job failed; a coded error (a bad prompt, an unwritable store)
// fails it for good, anything else is left to BullMQ's attempts.
async function failJob(reporter: ProgressReporter, err: unknown): Promise<never> {
  await reporter.reportError(err);
  throw isNadaError(err) ? new UnrecoverableError(`${err.code}: ${err.message}`) : err;
}

// Draws new samples from a finished run's generator and reports the grid like a run's.
async function redrawJob(
  data: AdaptJob,
  ctx: JobContext,
  runDir: string,
  reporter: ProgressReporter,
): Promise<AdaptJobResult> {
  try {
    const { step, grid } = await redrawSamples({
      checkpointPath: path.join(ctx.config.artifactsDir, data.redrawFrom!),
      seed: data.seed,
      nSample: ctx.config.training.previewSamples,
      runDir,
      models: ctx.models,
    });
    await reporter.report({ type: 'grid', step, path: grid });
    const result = { runId: data.runId, steps: step, losses: [], grids: [grid], cancelled: false };
    return reporter.summary(result);
  } catch (err) {
    return failJob(reporter, err);
  }
}

// The worker is going away: the run goes back to the queue, and whichever worker takes it
// next resumes from the checkpoint the engine saved when it stopped.
async function handBack(job: Job, token: string | undefined): Promise<never> {
  logger.info({ jobId: job.id }, 'worker shutting down; run handed back to the queue');
  await job.moveToWait(token);
  throw new WaitingError();
}

interface StartPoint {
  steps: number;
  resumeFrom?: string;
  continueFrom?: string;
  /** the step an earlier attempt of this job reached */
  ownStep?: number;
}

// Where a job's training starts. A continuation (`resumeFrom`) trains `steps` past its
// parent's step; an earlier attempt of this job that left a checkpoint goes first.
function startPoint(runDir: string, data: AdaptJob, artifactsDir: string): StartPoint {
  const parent = data.resumeFrom && path.join(artifactsDir, data.resumeFrom);
  const baseStep = parent ? readCheckpoint(parent).meta.step : 0;
  const own = resumePoint(runDir, baseStep + data.steps);
  if (own && own.step > baseStep) {
    return { steps: baseStep + data.steps - own.step, resumeFrom: own.path, ownStep: own.step };
  }
  if (parent) return { steps: data.steps, resumeFrom: parent };
  const continueFrom = data.continueFrom && path.join(artifactsDir, data.continueFrom);
  return { steps: data.steps, continueFrom: continueFrom || undefined };
}

// A checkpoint left by an earlier attempt of this job, and the step it reached.
function resumePoint(runDir: string, steps: number): { path: string; step: number } | undefined {
  const latest = latestPath(runDir);
  if (!existsSync(latest)) return undefined;
  const step = readCheckpoint(latest).meta.step;
  return step > 0 && step < steps ? { path: latest, step } : undefined;
}
