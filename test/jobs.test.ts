import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../src/jobs/connection.ts';
import { adaptJobSchema } from '../src/jobs/job-schema.ts';
import {
  cancelAdaptation,
  enqueueAdaptation,
  newRunId,
  queuePosition,
  type AdaptRequest,
} from '../src/jobs/producer.ts';
import { parseProgress } from '../src/jobs/progress.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

const request: AdaptRequest = {
  prompt: '日本人女性',
  source: 'photo',
  steps: 8,
  seed: 1,
  outputInterval: 4,
  requester: { platform: 'local', userId: 'u1' },
  reply: { platform: 'local', channelId: 'local', threadId: 't1' },
};

describe('the job schema', () => {
  const valid = { ...request, runId: newRunId(), requestedAt: new Date().toISOString() };

  it('GIVEN a well-formed job THEN it parses unchanged', () => {
    expect(adaptJobSchema.parse(valid)).toEqual(valid);
  });

  it.each([
    ['a run id that could leave the store', { runId: '../etc' }],
    ['a 5,000-character prompt', { prompt: 'x'.repeat(5000) }],
    ['an empty prompt', { prompt: '' }],
    ['zero steps', { steps: 0 }],
    ['a fractional seed', { seed: 1.5 }],
    ['no thread to post to', { reply: { platform: 'local', channelId: 'local' } }],
  ])('GIVEN %s THEN it is refused', (_label, change) => {
    expect(adaptJobSchema.safeParse({ ...valid, ...change }).success).toBe(false);
  });

  it('GIVEN progress payloads THEN only well-formed ones parse', () => {
    expect(parseProgress({ type: 'grid', step: 4, path: 'r/grids/step-000004.png' })).toBeDefined();
    expect(parseProgress({ type: 'step', step: 1, loss: NaN, msPerStep: 1, layers: [] })).toBe(
      undefined,
    );
    expect(parseProgress(42)).toBeUndefined();
  });
});

describe('the producer', () => {
  let redisServer: TestRedis;
  let redis: Redis;
  let queue: AdaptQueue;

  beforeAll(async () => {
    redisServer = await startTestRedis();
    redis = createRedis(redisServer.url);
    queue = createAdaptQueue(freshQueueName('jobs'), redis);
  });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    await redisServer.stop();
  });

  it('GIVEN three runs and no worker THEN their positions are 0, 1 and 2', async () => {
    const positions = [];
    for (let i = 0; i < 3; i++) positions.push((await enqueueAdaptation(queue, request)).position);
    expect(positions).toEqual([0, 1, 2]);
  });

  it('GIVEN the first run leaves the queue THEN the others move up', async () => {
    const waiting = await queue.getRanges(['wait'], 0, -1, true);
    expect(await cancelAdaptation(queue, redis, waiting[0])).toBe('removed');
    expect(await queuePosition(queue, waiting[1])).toBe(0);
    expect(await queuePosition(queue, waiting[2])).toBe(1);
    expect(await queuePosition(queue, waiting[0])).toBeUndefined();
  });

  it('GIVEN an unknown run THEN stopping it says there is nothing running', async () => {
    expect(await cancelAdaptation(queue, redis, 'no-such-run')).toBe('not-running');
  });

  it('GIVEN a run id THEN the job id is that run id and the payload is what was asked', async () => {
    const { jobId, runId } = await enqueueAdaptation(queue, request);
    expect(jobId).toBe(runId);
    expect((await queue.getJob(jobId))?.data).toMatchObject(request);
  });
});
