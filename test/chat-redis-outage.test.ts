import type { ChildProcess } from 'node:child_process';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { markdownFormat } from '../src/chat/format.ts';
import { ThreadConversation } from '../src/chat/thread-conversation.ts';
import type { CommandEvent, ThreadPlatform } from '../src/chat/thread-platform.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { handleTyped } from '../src/platforms/local/local-events.ts';
import { LocalPlatform } from '../src/platforms/local/local-platform.ts';
import { waitFor } from './fakes/wait.ts';
import { NO_LIMITS } from './helpers/local-chat.ts';
import { freePort, freshQueueName, spawnRedis } from './helpers/redis.ts';

// Pinned by: `/nada` typed in the local chat while Redis was stopped. The queue add waited in
// ioredis's offline queue and the chat said nothing at all until Redis came back; meanwhile
// the queue and its events printed an error with a stack on every reconnect attempt.

const LIMITS = { defaultSource: 'photo', defaultSteps: 8, maxSteps: 100 };
const REFUSED =
  'The queue (Redis) is away right now, so nothing was started; try again in a minute.';

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

/** Takes Redis away, as a crash would. */
async function stopRedis(signal: 'SIGKILL'): Promise<void> {
  server.kill(signal);
  await waitFor('the connection to drop', () => redis.status !== 'ready');
}

async function startRedis(): Promise<void> {
  server = spawnRedis(port);
  await waitFor('Redis back', () => redis.status === 'ready' && eventsRedis.status === 'ready');
}

/** The conversation on `platform`, over this file's queue and Redis, with no limits. */
function conversationOn(platform: ThreadPlatform): ThreadConversation {
  return new ThreadConversation({
    platform,
    queue,
    redis,
    events,
    artifactsDir: '/tmp/nadabot-outage-test',
    limits: LIMITS,
    outputInterval: 4,
    ...NO_LIMITS,
  });
}

describe('the local chat while Redis is away', () => {
  it('GIVEN Redis stopped WHEN /nada is typed THEN the page answers at once and nothing is queued when Redis is back', async () => {
    // the page's timeline without its Redis copy: what the conversation says reaches it
    const platform = new LocalPlatform({ artifactsDir: '/tmp/nadabot-outage-test' });
    const conversation = conversationOn(platform);

    await stopRedis('SIGKILL');
    const t0 = Date.now();
    await handleTyped({ platform, conversation, maxSteps: 100 }, '/nada bronze statue');
    expect(Date.now() - t0).toBeLessThan(500);
    expect(platform.messagesAfter(0).map((m) => [m.kind, 'text' in m ? m.text : ''])).toEqual([
      ['user', '/nada bronze statue'],
      ['bot', REFUSED],
    ]);

    await startRedis();
    expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    expect(consoleErrors).not.toHaveBeenCalled();
  }, 30_000);
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
    const chat = conversationOn(platform);
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
    expect(refusals).toEqual([REFUSED]);

    await startRedis();
    expect(await queue.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    expect(posted).toEqual([]);
    expect(consoleErrors).not.toHaveBeenCalled();
  });
});
