import type { ChildProcess } from 'node:child_process';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { NadaConversation, type MessageContext } from '../src/chat/conversation.ts';
import { markdownFormat } from '../src/chat/format.ts';
import { ThreadConversation } from '../src/chat/thread-conversation.ts';
import type { CommandEvent, ThreadPlatform } from '../src/chat/thread-platform.ts';
import { ThreadRuns } from '../src/chat/thread-runs.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { LocalPlatform, LOCAL_CHANNEL } from '../src/platforms/local/local-platform.ts';
import { waitFor } from './fakes/wait.ts';
import { freePort, freshQueueName, spawnRedis } from './helpers/redis.ts';

// Pinned by: `/nada` typed in the local chat while Redis was stopped. The queue add waited in
// ioredis's offline queue and the chat said nothing at all until Redis came back; meanwhile
// the queue and its events printed an error with a stack on every reconnect attempt.

const LIMITS = { defaultSource: 'photo', defaultSteps: 8, maxSteps: 100 };
const WAITING = 'The queue (Redis) is away right now; your run waits and starts when it is back.';

let port: number;
let server: ChildProcess;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let consoleErrors: MockInstance<typeof console.error>;

beforeAll(async () => {
  consoleErrors = vi.spyOn(console, 'error').mockImplementation(() => {});
  port = await freePort();
  server = spawnRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  redis = createRedis(url);
  eventsRedis = createRedis(url);
  await waitFor('Redis', () => redis.status === 'ready');
  queue = createAdaptQueue(freshQueueName('outage'), redis);
  events = await openRunEvents(queue.name, eventsRedis);
});

afterAll(async () => {
  await events?.close();
  await queue?.close();
  redis?.disconnect();
  eventsRedis?.disconnect();
  server?.kill('SIGKILL');
  consoleErrors.mockRestore();
});

/** Stops Redis the way `signal` does: SIGKILL takes it away, SIGSTOP leaves it silent. */
async function stopRedis(signal: 'SIGKILL' | 'SIGSTOP'): Promise<void> {
  server.kill(signal);
  if (signal === 'SIGKILL') await waitFor('the connection to drop', () => redis.status !== 'ready');
}

async function startRedis(): Promise<void> {
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGCONT');
  else server = spawnRedis(port);
  await waitFor('Redis back', () => redis.status === 'ready' && eventsRedis.status === 'ready');
}

/** The local chat's conversation and what it answers, with the time of each answer. */
function localChat() {
  const platform = new LocalPlatform();
  const chat = new NadaConversation({
    platform,
    queue,
    redis,
    events,
    artifactsDir: '/tmp/nadabot-outage-test',
    limits: LIMITS,
    outputInterval: 4,
  });
  const answers: { text: string; ms: number }[] = [];
  const t0 = Date.now();
  const ctx: MessageContext = {
    channelId: LOCAL_CHANNEL,
    userId: 'u1',
    respond: async (text) => void answers.push({ text, ms: Date.now() - t0 }),
  };
  return { chat, ctx, answers };
}

describe('the local chat while Redis is away', () => {
  it.each([
    ['stopped (SIGKILL)', 'SIGKILL', 500],
    ['connected but silent (SIGSTOP)', 'SIGSTOP', 3000],
  ] as const)(
    'GIVEN Redis %s WHEN /nada is typed THEN the chat says at once that the run waits, and queues it when Redis is back',
    async (_label, signal, withinMs) => {
      await stopRedis(signal);
      const { chat, ctx, answers } = localChat();
      const handled = chat.handleText('/nada bronze statue', ctx);

      // the answer comes while Redis is still away
      await waitFor('the waiting answer', () => answers.length === 1, 5000);
      expect(answers[0].text).toBe(WAITING);
      expect(answers[0].ms).toBeLessThan(withinMs);

      // Redis is back: the run is recorded and queued, and the chat says so
      await startRedis();
      await handled;
      expect(answers[1].text).toMatch(
        /^The queue is back and your run is in it\. Adapting photo → \*\*bronze statue\*\*: 8 steps/,
      );
      const jobs = await queue.getWaiting();
      const job = jobs.find((j) => j.data.prompt === 'bronze statue');
      expect(job).toBeDefined();
      expect(await new ThreadRuns(redis, queue.name).byRun(job!.id!)).toMatchObject({
        prompt: 'bronze statue',
      });
      await job!.remove();
      expect(consoleErrors).not.toHaveBeenCalled();
    },
    30_000,
  );
});

describe('a threaded platform while Redis is away', () => {
  it('GIVEN Redis stopped WHEN /nada arrives THEN it is refused at once and nothing is queued when Redis is back', async () => {
    const posted: string[] = [];
    const platform: ThreadPlatform = {
      name: 'discord',
      format: markdownFormat,
      maxUploadBytes: 8_000_000,
      postText: async (_t, text) => String(posted.push(text)),
      editText: async () => {},
      postFiles: async () => '',
    };
    const chat = new ThreadConversation({
      platform,
      queue,
      redis,
      events,
      artifactsDir: '/tmp/nadabot-outage-test',
      limits: LIMITS,
      outputInterval: 4,
      access: { allowedChannels: [], allowedRoles: [], operators: [], operatorRoles: [] },
      quotas: { maxRunsPerUser: 0, maxRunsPerChannel: 0, dailyStepsPerUser: 0 },
    });
    const refusals: string[] = [];
    const ev: CommandEvent = {
      eventId: 'interaction-1',
      userId: 'u1',
      channelId: 'c1',
      accept: async () => {
        throw new Error('accepted without Redis');
      },
      refuse: async (text) => void refusals.push(text),
    };

    await stopRedis('SIGKILL');
    const t0 = Date.now();
    await chat.handleCommand({ prompt: 'bronze statue' }, ev);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(refusals).toEqual([
      'The queue (Redis) is away right now, so nothing was started; try again in a minute.',
    ]);

    await startRedis();
    expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    expect(posted).toEqual([]);
    expect(consoleErrors).not.toHaveBeenCalled();
  });
});
