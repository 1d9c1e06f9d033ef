import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { NadaConversation, type MessageContext } from '../src/chat/conversation.ts';
import { ThreadRuns } from '../src/chat/thread-runs.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { LocalPlatform, LOCAL_CHANNEL } from '../src/platforms/local/local-platform.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

let redisServer: TestRedis;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let platform: LocalPlatform;
let chat: NadaConversation;

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = createRedis(redisServer.url);
  eventsRedis = createRedis(redisServer.url);
  const queueName = freshQueueName('chat');
  queue = createAdaptQueue(queueName, redis);
  events = await openRunEvents(queueName, eventsRedis);
  platform = new LocalPlatform();
  chat = new NadaConversation({
    platform,
    queue,
    redis,
    events,
    artifactsDir: '/tmp/nadabot-chat-test',
    limits: { defaultSource: 'photo', defaultSteps: 8, maxSteps: 100 },
    outputInterval: 4,
  });
  chat.start();
});

afterAll(async () => {
  chat.stop();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  eventsRedis.disconnect();
  await redisServer.stop();
});

/** Sends one message as a person would and returns the bot's immediate answers. */
async function say(text: string): Promise<string[]> {
  const answers: string[] = [];
  const ctx: MessageContext = {
    channelId: LOCAL_CHANNEL,
    userId: 'u1',
    threadId: platform.currentThreadId,
    respond: async (answer) => {
      answers.push(answer);
    },
  };
  await chat.handleText(text, ctx);
  return answers;
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
      ['hello?', /Type `\/nada <prompt>`/],
    ];
    for (const [text, reply] of bad) {
      const answers = await say(text);
      expect(answers, text.slice(0, 40)).toHaveLength(1);
      expect(answers[0]).toMatch(reply);
    }
    expect(await queue.count()).toBe(0);

    // still serving: a good command right after is queued
    const [accepted] = await say('/nada 日本人女性 --seed 5');
    expect(accepted).toMatch(/Adapting photo → \*\*日本人女性\*\*: 8 steps, seed 5/);
    expect(accepted).toMatch(/next in line/);
    const [job] = await queue.getWaiting();
    expect(job.data).toMatchObject({
      prompt: '日本人女性',
      source: 'photo',
      steps: 8,
      seed: 5,
      outputInterval: 4,
      reply: { platform: 'local', channelId: LOCAL_CHANNEL, threadId: platform.currentThreadId },
    });
  });

  it('GIVEN a second run while one waits THEN its answer shows one run ahead', async () => {
    const [answer] = await say('/nada bronze statue');
    expect(answer).toMatch(/Queue position: 1 run ahead of yours/);
  });

  it('GIVEN a run THEN its thread maps to it in Redis both ways', async () => {
    const runs = new ThreadRuns(redis, queue.name);
    const runId = await runs.byThread('local', platform.currentThreadId!);
    expect(runId).toBeDefined();
    expect(await runs.byRun(runId!)).toMatchObject({
      runId,
      prompt: 'bronze statue',
      platform: 'local',
      threadId: platform.currentThreadId,
    });
  });

  it('GIVEN /stop in the thread of a waiting run THEN the run leaves the queue', async () => {
    const runId = await new ThreadRuns(redis, queue.name).byThread(
      'local',
      platform.currentThreadId!,
    );
    const before = await queue.getJob(runId!);
    expect(before).toBeDefined();
    expect(await say('/stop')).toEqual(['Your run was taken off the queue before it started.']);
    expect(await queue.getJob(runId!)).toBeUndefined();
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
