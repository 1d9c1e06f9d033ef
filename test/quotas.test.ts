import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessRefusal, isOperator, OPEN_ACCESS } from '../src/chat/access.ts';
import { parseThreadReply } from '../src/chat/continue.ts';
import { Quotas } from '../src/chat/quotas.ts';
import { validateNadaArgs } from '../src/chat/validate.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

const req = (
  runId: string,
  over: Partial<{ userId: string; channelId: string; steps: number }> = {},
) => ({
  platform: 'discord',
  userId: 'alice',
  channelId: 'c1',
  runId,
  steps: 10,
  ...over,
});

describe('quotas', () => {
  it('GIVEN one run per person WHEN a second arrives THEN it is refused until the first ends', async () => {
    const quotas = new Quotas(redis, freshQueueName('quota'), {
      maxRunsPerUser: 1,
      maxRunsPerChannel: 0,
      dailyStepsPerUser: 0,
    });
    expect(await quotas.reserve(req('r1'))).toBeUndefined();
    expect(await quotas.reserve(req('r2'))).toEqual({ kind: 'user-runs', limit: 1 });
    expect(await quotas.reserve(req('r3', { userId: 'bob' }))).toBeUndefined();

    await quotas.release(req('r1'));
    expect(await quotas.reserve(req('r4'))).toBeUndefined();
  });

  it('GIVEN two runs per channel WHEN a third person asks THEN the channel limit refuses', async () => {
    const quotas = new Quotas(redis, freshQueueName('quota'), {
      maxRunsPerUser: 0,
      maxRunsPerChannel: 2,
      dailyStepsPerUser: 0,
    });
    await quotas.reserve(req('r1', { userId: 'a' }));
    await quotas.reserve(req('r2', { userId: 'b' }));
    expect(await quotas.reserve(req('r3', { userId: 'c' }))).toEqual({
      kind: 'channel-runs',
      limit: 2,
    });
    expect(await quotas.reserve(req('r4', { userId: 'c', channelId: 'c2' }))).toBeUndefined();
  });

  it('GIVEN a daily quota of 25 steps WHEN 10 + 10 + 10 are asked THEN the third is refused with what is left', async () => {
    const quotas = new Quotas(redis, freshQueueName('quota'), {
      maxRunsPerUser: 0,
      maxRunsPerChannel: 0,
      dailyStepsPerUser: 25,
    });
    const day = new Date('2026-12-03T10:00:00Z');
    expect(await quotas.reserve(req('r1'), day)).toBeUndefined();
    expect(await quotas.reserve(req('r2'), day)).toBeUndefined();
    expect(await quotas.reserve(req('r3'), day)).toEqual({
      kind: 'daily-steps',
      limit: 25,
      used: 20,
      asked: 10,
    });
    expect(await quotas.stepsToday('discord', 'alice', day)).toBe(20);
    // the next UTC day starts afresh
    expect(await quotas.reserve(req('r4'), new Date('2026-12-04T00:00:01Z'))).toBeUndefined();
  });

  it('counts concurrent reservations once each (no two take the last slot)', async () => {
    const quotas = new Quotas(redis, freshQueueName('quota'), {
      maxRunsPerUser: 1,
      maxRunsPerChannel: 0,
      dailyStepsPerUser: 0,
    });
    const verdicts = await Promise.all([1, 2, 3, 4].map((i) => quotas.reserve(req(`r${i}`))));
    expect(verdicts.filter((v) => v === undefined)).toHaveLength(1);
  });
});

describe('access', () => {
  const policy = {
    ...OPEN_ACCESS,
    allowedChannels: ['c1'],
    allowedRoles: ['artists'],
    operators: ['op'],
  };

  it('refuses other channels, and people without an allowed role', () => {
    expect(accessRefusal(policy, { userId: 'a', channelId: 'c2', roles: ['artists'] })).toEqual({
      kind: 'channel',
    });
    expect(accessRefusal(policy, { userId: 'a', channelId: 'c1', roles: [] })).toEqual({
      kind: 'role',
      roles: ['artists'],
    });
    expect(
      accessRefusal(policy, { userId: 'a', channelId: 'c1', roles: ['artists'] }),
    ).toBeUndefined();
    expect(accessRefusal(policy, { userId: 'op', channelId: 'c1' })).toBeUndefined();
    expect(isOperator(policy, { userId: 'a', channelId: 'c1' })).toBe(false);
  });
});

describe('thread replies', () => {
  it('reads numbers as more steps, save and stop as words, other text as a new direction', () => {
    expect(parseThreadReply('20')).toEqual({ kind: 'more', steps: 20 });
    expect(parseThreadReply('+5 steps')).toEqual({ kind: 'more', steps: 5 });
    expect(parseThreadReply('Save')).toEqual({ kind: 'save' });
    expect(parseThreadReply('stop')).toEqual({ kind: 'stop' });
    expect(parseThreadReply('bronze statue')).toEqual({ kind: 'steer', text: 'bronze statue' });
    expect(parseThreadReply('3 cats')).toEqual({ kind: 'steer', text: '3 cats' });
    expect(parseThreadReply('  ')).toEqual({ kind: 'ignore' });
  });

  const LIMITS = { defaultSource: 'photo', defaultSteps: 40, maxSteps: 1000 };

  it('reads number-like replies as step counts, for the step check to refuse, not as a text', () => {
    for (const [reply, steps] of [
      ['-5', -5],
      ['5.5', 5.5],
      ['1e3', 1000],
      ['99999999999', 99999999999],
    ] as const) {
      expect(parseThreadReply(reply)).toEqual({ kind: 'more', steps });
      const checked = validateNadaArgs({ prompt: 'x', steps: Number(reply) }, LIMITS);
      expect(checked.ok, reply).toBe(Number(reply) === 1000);
    }
  });

  it('reads /nada options off a reply that steers, and refuses one it does not know', () => {
    expect(parseThreadReply('watercolor --steps 10')).toEqual({
      kind: 'steer',
      text: 'watercolor',
      steps: '10',
    });
    expect(parseThreadReply('--seed=7 "oil painting" --source sketch')).toEqual({
      kind: 'steer',
      text: 'oil painting',
      seed: '7',
      source: 'sketch',
    });
    expect(parseThreadReply('watercolor --colour red')).toMatchObject({
      kind: 'bad-option',
      option: 'colour',
      reason: 'unknown',
    });
    expect(parseThreadReply('watercolor --steps')).toMatchObject({
      kind: 'bad-option',
      option: 'steps',
      reason: 'no-value',
    });
  });
});
