import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatRuns } from '../src/chat/chat-runs.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents, subscribeRunEvents } from '../src/jobs/events.ts';
import type { AdaptJobResult } from '../src/jobs/job-schema.ts';
import {
  cancelAdaptation,
  enqueueAdaptation,
  newRunId,
  type AdaptRequest,
} from '../src/jobs/producer.ts';
import { parseProgress, type RunProgress } from '../src/jobs/progress.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { startNadaWorker, type RunningWorker } from '../workers/nada-worker.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestLocalChat } from './helpers/local-chat.ts';

let redisServer: TestRedis;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let worker: RunningWorker;
let config: Config;

beforeAll(async () => {
  redisServer = await startTestRedis();
  const artifacts = await mkdtemp(path.join(tmpdir(), 'nadabot-worker-'));
  config = loadConfig({
    REDIS_URL: redisServer.url,
    NADABOT_QUEUE: freshQueueName('worker'),
    NADABOT_ARTIFACTS: artifacts,
    NADABOT_LOG_LEVEL: 'warn',
  });
  redis = createRedis(config.redisUrl);
  eventsRedis = createRedis(config.redisUrl);
  queue = createAdaptQueue(config.queueName, redis);
  events = await openRunEvents(config.queueName, eventsRedis);
  // the real worker: demo models, the real engine, on the backend selectBackend picks
  worker = await startNadaWorker(config);
});

afterAll(async () => {
  await worker?.close();
  await events?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  redis?.disconnect();
  eventsRedis?.disconnect();
  await redisServer?.stop();
  await rm(config.artifactsDir, { recursive: true, force: true });
});

interface Heard {
  progress: RunProgress[];
  result?: AdaptJobResult;
  failure?: string;
}

/** Enqueues a run and collects what the queue events say about it until it ends. */
async function runJob(
  request: Partial<AdaptRequest>,
  onProgress?: (p: RunProgress, jobId: string) => Promise<void>,
): Promise<{ jobId: string; heard: Heard }> {
  const heard: Heard = { progress: [] };
  let jobId = '';
  let resolveEnd!: () => void;
  const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
  const unsubscribe = subscribeRunEvents(events, {
    onProgress: async (id, p) => {
      if (id !== jobId) return;
      heard.progress.push(p);
      await onProgress?.(p, id);
    },
    onCompleted: (id, result) => {
      if (id === jobId) [heard.result] = [result, resolveEnd()];
    },
    onFailed: (id, reason) => {
      if (id === jobId) [heard.failure] = [reason, resolveEnd()];
    },
  });
  ({ jobId } = await enqueueAdaptation(queue, {
    prompt: '日本人女性',
    source: 'photo',
    steps: 2,
    seed: 7,
    outputInterval: 2,
    requester: { platform: 'test', userId: 'u1' },
    reply: { platform: 'test', channelId: 'c1', threadId: 't1' },
    ...request,
  }));
  await ended;
  unsubscribe();
  return { jobId, heard };
}

describe('the NADA worker', () => {
  it('GIVEN a 2-step job THEN progress, grids and the result come back through the queue', async () => {
    const { jobId, heard } = await runJob({});
    expect(heard.failure).toBeUndefined();

    // progress: started, the steps with finite losses, grids at 0 and 2 in the store
    expect(heard.progress[0]).toEqual({ type: 'started', runId: jobId, totalSteps: 2 });
    const steps = heard.progress.filter((p) => p.type === 'step');
    expect(steps.map((p) => p.step)).toEqual([1, 2]);
    const grids = heard.progress.filter((p) => p.type === 'grid');
    expect(grids.map((g) => [g.step, g.path])).toEqual([
      [0, `${jobId}/grids/step-000000.png`],
      [2, `${jobId}/grids/step-000002.png`],
    ]);
    for (const grid of grids) {
      const meta = await sharp(path.join(config.artifactsDir, grid.path)).metadata();
      expect(meta.format).toBe('png');
    }

    // the result: first and last loss as the steps reported them
    const losses = steps.map((p) => (p.type === 'step' ? p.loss : NaN));
    expect(heard.result).toEqual({
      runId: jobId,
      steps: 2,
      firstLoss: losses[0],
      lastLoss: losses[1],
      grids: grids.map((g) => g.path),
      cancelled: false,
    });

    // the job keeps its last progress, which parses with the same schema
    const job = await queue.getJob(jobId);
    expect(parseProgress(job?.progress)).toBeDefined();
  });

  it('GIVEN target equal to source THEN the job fails with the coded error and the worker goes on', async () => {
    const { jobId, heard } = await runJob({ prompt: 'Photo', source: 'photo' });
    expect(heard.failure).toMatch(/^prompt\.same_as_source: /);
    const job = await queue.getJob(jobId);
    expect(parseProgress(job?.progress)).toMatchObject({
      type: 'error',
      code: 'prompt.same_as_source',
    });
    expect(job?.attemptsMade).toBe(1);

    const next = await runJob({ steps: 1, outputInterval: 1 });
    expect(next.heard.result?.steps).toBe(1);
  });

  it('GIVEN a run whose folder cannot be made THEN the job fails at once with run.folder and the worker goes on', async () => {
    // a file where the run's folder should go (as an artifact store gone read-only would)
    const runId = newRunId();
    await writeFile(path.join(config.artifactsDir, runId), 'in the way');
    const { heard } = await runJob({ runId });
    expect(heard.failure).toMatch(/^run\.folder: NADABOT_ARTIFACTS .* is a file/);
    expect(heard.progress).toEqual([
      expect.objectContaining({ type: 'error', code: 'run.folder' }),
    ]);

    const next = await runJob({ steps: 1, outputInterval: 1 });
    expect(next.heard.result?.steps).toBe(1);
  });

  it('GIVEN a stop request during a run THEN it stops between steps and keeps a checkpoint', async () => {
    let asked = false;
    const { jobId, heard } = await runJob({ steps: 40, outputInterval: 20 }, async (p, id) => {
      if (p.type === 'step' && !asked) {
        asked = true;
        expect(await cancelAdaptation(queue, redis, id)).toBe('signalled');
      }
    });
    expect(heard.result?.cancelled).toBe(true);
    expect(heard.result!.steps).toBeLessThan(40);
    const runDir = path.join(config.artifactsDir, jobId);
    expect(existsSync(path.join(runDir, 'checkpoints', 'latest.safetensors'))).toBe(true);
  });
});

describe('when a worker shuts down mid-run', () => {
  it('GIVEN a run in progress WHEN its worker closes THEN the next worker resumes it to the last step', async () => {
    let closing: Promise<void> | undefined;
    const heard: RunProgress[] = [];
    let resolveEnd!: (result: AdaptJobResult) => void;
    const ended = new Promise<AdaptJobResult>((resolve) => (resolveEnd = resolve));
    let jobId = '';
    const unsubscribe = subscribeRunEvents(events, {
      onProgress: async (id, p) => {
        if (id !== jobId) return;
        heard.push(p);
        // the first step's report: shut this worker down
        if (p.type === 'step' && !closing) closing = worker.close();
      },
      onCompleted: (id, result) => {
        if (id === jobId) resolveEnd(result);
      },
    });
    ({ jobId } = await enqueueAdaptation(queue, {
      prompt: 'bronze statue',
      source: 'photo',
      steps: 4,
      seed: 3,
      outputInterval: 2,
      requester: { platform: 'test', userId: 'u1' },
      reply: { platform: 'test', channelId: 'c1', threadId: 't1' },
    }));

    // the first worker stops after its current step and hands the job back
    await expect.poll(() => closing !== undefined, { interval: 500, timeout: 120_000 }).toBe(true);
    await closing;
    expect(await (await queue.getJob(jobId))?.getState()).toBe('waiting');
    const stoppedAt = heard.filter((p) => p.type === 'step').length;
    expect(stoppedAt).toBeGreaterThanOrEqual(1);
    expect(stoppedAt).toBeLessThan(4);

    // a second worker finishes the run from the checkpoint, not from step 0
    worker = await startNadaWorker(config);
    const result = await ended;
    unsubscribe();
    expect(result).toMatchObject({ runId: jobId, steps: 4, cancelled: false });
    const started = heard.filter((p) => p.type === 'started');
    expect(started).toHaveLength(2);
    const steps = heard.filter((p) => p.type === 'step').map((p) => p.step);
    expect(steps).toEqual([...Array(4).keys()].map((i) => i + 1));
  });
});

describe('when the conversation listens to the worker', () => {
  it('GIVEN a run the engine refuses THEN its thread gets the friendly reply, not the raw error', async () => {
    const { platform, chat } = await startTestLocalChat({
      queue,
      redis,
      events,
      artifactsDir: config.artifactsDir,
      limits: { defaultSource: 'photo', defaultSteps: 2, maxSteps: 10 },
      outputInterval: 2,
    });

    // the chat refuses "photo" → "Photo" itself, so queue it the way another bot version might
    const thread = await platform.openThread('Adapting photo → Photo', 'photo → Photo');
    const runId = newRunId();
    await new ChatRuns(redis, queue.name).create({
      runId,
      platform: 'local',
      ...thread,
      kind: 'new',
      userId: 'u1',
      prompt: 'Photo',
      source: 'photo',
      seed: 1,
      startStep: 0,
      steps: 2,
      uploadLimitBytes: platform.maxUploadBytes,
      state: 'queued',
    });
    const { heard } = await runJob({ runId, prompt: 'Photo', source: 'photo' });
    expect(heard.failure).toBeDefined();

    await expect
      .poll(() => platform.messagesAfter(0).filter((m) => m.kind === 'bot').length)
      .toBe(2);
    await chat.stop();
    const reply = platform.messagesAfter(0).filter((m) => m.kind === 'bot')[1];
    expect(reply).toMatchObject({
      threadId: thread.threadId,
      text: expect.stringMatching(/^The prompt means the same as the source text/),
    });
  });
});
