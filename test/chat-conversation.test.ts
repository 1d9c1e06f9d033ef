import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ThreadConversation } from '../src/chat/thread-conversation.ts';
import { ThreadRuns } from '../src/chat/thread-runs.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { handleTyped } from '../src/platforms/local/local-events.ts';
import {
  LOCAL_CHANNEL,
  type LocalMessage,
  type LocalPlatform,
} from '../src/platforms/local/local-platform.ts';
import { startTestLocalChat } from './helpers/local-chat.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

// The conversation as the local chat drives it, on a real queue with no worker: what each
// typed text gets back, and what lands in Redis.

let redisServer: TestRedis;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let platform: LocalPlatform;
let chat: ThreadConversation;

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = createRedis(redisServer.url);
  eventsRedis = createRedis(redisServer.url);
  const queueName = freshQueueName('chat');
  queue = createAdaptQueue(queueName, redis);
  events = await openRunEvents(queueName, eventsRedis);
  ({ platform, chat } = await startTestLocalChat({
    queue,
    redis,
    events,
    artifactsDir: '/tmp/nadabot-chat-test',
    limits: { defaultSource: 'photo', defaultSteps: 8, maxSteps: 100 },
    outputInterval: 4,
  }));
});

afterAll(async () => {
  await chat.stop();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  eventsRedis.disconnect();
  await redisServer.stop();
});

/** Types one message as a person would and returns the bot's texts that followed it. */
async function say(text: string, threadId?: string): Promise<string[]> {
  const before = platform.messagesAfter(0).at(-1)?.id ?? 0;
  await handleTyped({ platform, conversation: chat, maxSteps: 100 }, text, threadId);
  return platform
    .messagesAfter(before)
    .filter((m): m is LocalMessage & { kind: 'bot' } => m.kind === 'bot')
    .map((m) => m.text);
}

/** The thread opened last. */
function lastThread(): string {
  return platform
    .messagesAfter(0)
    .filter((m) => m.kind === 'thread')
    .at(-1)!.threadId!;
}

describe('the conversation', () => {
  it('GIVEN bad inputs THEN each gets a friendly reply, nothing is queued, and the bot keeps serving', async () => {
    const bad: [string, RegExp][] = [
      ['/nada', /prompt is empty/],
      ['/nada    ', /prompt is empty/],
      [`/nada ${'あ'.repeat(5000)}`, /5,000 characters; the limit is 300/],
      ['/nada \u200b\u200c\u200d\u2060', /only invisible characters/],
      ['/nada photo', /same as the source \*\*photo\*\*/],
      ['/nada Photo --source PHOTO', /same as the source/],
      // these two passed the chat's own checks and failed in the engine after queueing
      ['/nada \uD800cat', /broken character/],
      ['/nada pho\u200Dto', /same as the source \*\*photo\*\*/],
      ['/nada sketch --steps 1000', /--steps.*from 1 to 100/],
      ['/nada sketch --colour red', /do not know the option/],
      ['/imagine a cat', /do not know `\/imagine`/],
      ['hello?', /Type `\/nada <prompt>`[\s\S]*reply inside its thread/],
    ];
    for (const [text, reply] of bad) {
      const answers = await say(text);
      expect(answers, text.slice(0, 40)).toHaveLength(1);
      expect(answers[0]).toMatch(reply);
    }
    expect(await queue.count()).toBe(0);

    // still serving: a good command right after is queued
    const [accepted, position] = await say('/nada 日本人女性 --seed 5');
    expect(accepted).toMatch(/Adapting photo → \*\*日本人女性\*\*: 8 steps, seed 5/);
    expect(position).toBe('Queue position: next in line.');
    const [job] = await queue.getWaiting();
    expect(job.data).toMatchObject({
      prompt: '日本人女性',
      source: 'photo',
      steps: 8,
      seed: 5,
      outputInterval: 4,
      reply: { platform: 'local', channelId: LOCAL_CHANNEL, threadId: lastThread() },
    });
  });

  it('GIVEN a second run while one waits THEN its answer shows one run ahead', async () => {
    const [, position] = await say('/nada bronze statue');
    expect(position).toBe('Queue position: 1 run ahead.');
  });

  it('GIVEN a run THEN its thread maps to it in Redis both ways', async () => {
    const runs = new ThreadRuns(redis, queue.name);
    const runId = await runs.byThread('local', lastThread());
    expect(runId).toBeDefined();
    expect(await runs.byRun(runId!)).toMatchObject({
      runId,
      prompt: 'bronze statue',
      platform: 'local',
      threadId: lastThread(),
    });
  });

  it('GIVEN /stop in the thread of a waiting run THEN the run leaves the queue', async () => {
    const runId = await new ThreadRuns(redis, queue.name).byThread('local', lastThread());
    const before = await queue.getJob(runId!);
    expect(before).toBeDefined();
    expect(await say('/stop', lastThread())).toEqual([
      'Your run was taken off the queue before it started.',
    ]);
    expect(await queue.getJob(runId!)).toBeUndefined();
  });

  it('GIVEN /stop in the channel THEN it says where /stop works, and the run goes on', async () => {
    const waiting = await queue.getWaitingCount();
    expect(waiting).toBeGreaterThan(0);
    expect(await say('/stop')).toEqual([
      '/stop works inside a run’s thread: open the thread of the run to stop and type it ' +
        'there, or press Stop on its queue line.',
    ]);
    expect(await queue.getWaitingCount()).toBe(waiting);
  });

  it('GIVEN a number replied in the thread of a run still waiting THEN it asks to wait for the end', async () => {
    await say('/nada oil painting');
    expect(await say('20', lastThread())).toEqual([
      'This run is still going. Wait for the final grid (or stop it with ⏹), then reply again.',
    ]);
  });

  it('GIVEN markup in a prompt THEN the thread title and answer echo it inert', async () => {
    const [answer] = await say('/nada **@everyone** `x`');
    expect(answer).toContain('\\*\\*@\u200beveryone\\*\\* \\`x\\`');
    const thread = platform
      .messagesAfter(0)
      .filter((m) => m.kind === 'thread')
      .at(-1);
    expect(thread).toMatchObject({ title: 'photo → \\*\\*@\u200beveryone\\*\\* \\`x\\`' });
  });
});
