import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markdownFormat, slackFormat } from '../src/chat/format.ts';
import { understoodMessage } from '../src/chat/understood-message.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { parseProgress, type RunRoutingProgress } from '../src/jobs/progress.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { startNadaWorker, type RunningWorker } from '../workers/nada-worker.ts';
import { startTestLocalChat } from './helpers/local-chat.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

// The understood-as line from the worker's engine to the thread: a real Redis, the real
// worker on the demo models, the conversation posting into the local chat.

let redisServer: TestRedis;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let worker: RunningWorker;
let config: Config;
let root: string;

beforeAll(async () => {
  redisServer = await startTestRedis();
  root = await mkdtemp(path.join(tmpdir(), 'nadabot-understood-'));
  config = loadConfig({
    REDIS_URL: redisServer.url,
    NADABOT_QUEUE: freshQueueName('understood'),
    NADABOT_ARTIFACTS: path.join(root, 'artifacts'),
    NADABOT_CACHE_DIR: path.join(root, 'cache'),
    NADABOT_LOG_LEVEL: 'warn',
  });
  redis = createRedis(config.redisUrl);
  eventsRedis = createRedis(config.redisUrl);
  queue = createAdaptQueue(config.queueName, redis);
  events = await openRunEvents(config.queueName, eventsRedis);
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
  await rm(root, { recursive: true, force: true });
});

/** Types `/nada …` into a fresh local chat and returns its bot lines once the run is done. */
async function botLinesOf(command: string): Promise<string[]> {
  const local = await startTestLocalChat({
    queue,
    redis,
    events,
    artifactsDir: config.artifactsDir,
    limits: { defaultSource: 'photo', defaultSteps: 1, maxSteps: 4 },
    outputInterval: 1,
  });
  try {
    await local.type(command);
    await expect
      .poll(() => local.botTexts().some((t) => t.startsWith('Done:')), {
        interval: 200,
        timeout: 60_000,
      })
      .toBe(true);
    return local.botTexts();
  } finally {
    await local.chat.stop();
  }
}

describe('GIVEN the worker on the demo models and a local chat', () => {
  it('WHEN /nada 日本人女性 runs THEN the thread shows it read by tiny-xlmr, with the demo caveat', async () => {
    const lines = await botLinesOf('/nada 日本人女性 --steps 1');
    const line = lines.find((t) => t.startsWith('Understood as'));
    expect(line).toMatch(
      /^Understood as \(ViT\\-B\/32 via tiny\\-xlmr, Chinese or Japanese\): .+ -?\d\.\d\d · /,
    );
    expect(line?.split(' · ')).toHaveLength(5);
    expect(line).toMatch(/\(demo models: similarities carry no meaning\)$/);
    // posted once, after the start and before the result
    expect(lines.filter((t) => t.startsWith('Understood as'))).toHaveLength(1);
    const order = ['Training started', 'Understood as', 'Done:'].map((p) =>
      lines.findIndex((t) => t.startsWith(p)),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("WHEN /nada bronze statue runs THEN CLIP's own encoder reads it and finds the phrase itself first", async () => {
    const lines = await botLinesOf('/nada bronze statue --steps 1');
    const line = lines.find((t) => t.startsWith('Understood as'));
    expect(line).toMatch(
      /^Understood as \(ViT\\-B\/32 via CLIP's own encoder, English\): bronze statue 1\.00 · /,
    );
    // the job keeps the event's routing, which parses with the progress schema
    const jobs = await queue.getJobs(['completed']);
    const kept = jobs.map((j) => parseProgress(j.progress));
    expect(kept.every((p) => p !== undefined)).toBe(true);
  });
});

describe('understoodMessage', () => {
  const routing: RunRoutingProgress = {
    model: 'ffhq',
    target: {
      original: 'Ça <va>',
      text: 'Ça <va>',
      changes: [],
      language: {
        code: 'fr',
        name: 'French',
        alternatives: [],
        method: 'detector',
        confident: true,
        english: 'no',
        note: '',
      },
      scripts: ['Latin'],
    },
    source: {
      original: 'photo',
      text: 'photo',
      changes: [],
      language: {
        code: 'en',
        name: 'English',
        alternatives: [],
        method: 'english-words',
        confident: true,
        english: 'yes',
        note: '',
      },
      scripts: ['Latin'],
    },
    spaces: [
      {
        space: 'ViT-B/32',
        status: 'encoded',
        via: 'multilingual',
        encoderId: 'mbert',
        weight: 2,
        reason: '',
        warnings: ['mbert strips accents: "Ça" reaches it as "Ca"'],
        understoodAs: [
          { phrase: 'a <b>', similarity: 0.3141 },
          { phrase: 'fine', similarity: 0.2 },
        ],
      },
      {
        space: 'ViT-B/16',
        status: 'dropped',
        weight: 0,
        reason: 'no encoder',
        warnings: [],
        understoodAs: [],
      },
    ],
  };

  it('GIVEN a real model THEN one line per kept model, escaped, then the warnings, no demo caveat', () => {
    expect(understoodMessage(slackFormat, routing)).toBe(
      'Understood as (ViT-B/32 via mbert, French): a &lt;b&gt; 0.31 · fine 0.20\n' +
        'Warning: mbert strips accents: "Ça" reaches it as "Ca"',
    );
  });

  it('GIVEN a space without a list THEN says which encoder read it, with no similarities to caveat', () => {
    const bare = {
      ...routing,
      model: 'demo',
      spaces: [{ ...routing.spaces[0], understoodAs: [], warnings: [] }],
    };
    expect(understoodMessage(markdownFormat, bare)).toBe(
      'Read by mbert for ViT\\-B/32 \\(French\\).',
    );
  });
});
