import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { startLocalChat, type RunningLocalChat } from '../src/platforms/local/local-chat.ts';
import { LocalHistory } from '../src/platforms/local/local-history.ts';
import { LocalPlatform, type LocalMessage } from '../src/platforms/local/local-platform.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

// The real local chat (queue, events, conversation, server) stopped and started again on the
// same Redis and queue, as `nadabot bot` is after a crash or an upgrade. Before the timeline
// was kept in Redis, ids restarted at 1: a page back with Last-Event-ID 5 missed messages 1
// to 5 of the new process, and a reload showed an empty chat.

// The replay is written as soon as the stream opens; this much quiet means it is complete.
const QUIET_MS = 300;

let redis: TestRedis;
let root: string;
let config: Config;
let chat: RunningLocalChat | undefined;
/** every message of the first process, oldest first */
let before: LocalMessage[];
/** what a page had shown when the first process stopped */
let seenBeforeRestart: LocalMessage[];
let threadId: string;
let stopMs: number;
/** how the stream of a page left open across the restart ended */
let openPageEnd: Promise<'ended'>;

async function post(text: string): Promise<void> {
  const response = await fetch(`${chat!.url}messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(response.status).toBe(202);
}

/** Opens the event stream as a page does and gives what arrives until it goes quiet. */
async function readStream(lastEventId?: number): Promise<LocalMessage[]> {
  const controller = new AbortController();
  const headers: Record<string, string> =
    lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) };
  const response = await fetch(`${chat!.url}events`, { headers, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();

  let buffer = '';
  const messages: LocalMessage[] = [];
  for (;;) {
    const quiet = new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), QUIET_MS));
    const chunk = await Promise.race([reader.read(), quiet]);
    if (chunk === 'quiet' || chunk.done) break;
    buffer += chunk.value;
    const blocks = buffer.split('\n\n');
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data) messages.push(JSON.parse(data.slice(6)));
    }
  }
  controller.abort();
  return messages;
}

type BotMessage = Extract<LocalMessage, { kind: 'bot' }>;
const ids = (messages: LocalMessage[]) => messages.map((m) => m.id);

beforeAll(async () => {
  // an artifact store and one grid, for a posted image that must survive the restart
  root = await mkdtemp(path.join(tmpdir(), 'nadabot-restart-'));
  const png = await sharp({
    create: { width: 4, height: 4, channels: 3, background: { r: 10, g: 200, b: 10 } },
  })
    .png()
    .toBuffer();

  redis = await startTestRedis();
  config = loadConfig({
    REDIS_URL: redis.url,
    NADABOT_PORT: '0',
    NADABOT_QUEUE: freshQueueName('restart'),
    NADABOT_ARTIFACTS: root,
  });

  // the first process: answers to commands, a page that saw the first two, then a thread
  chat = await startLocalChat(config);
  await post('/help');
  seenBeforeRestart = await readStream();
  await post('/nada photo');
  const thread = await chat.platform.openThread('Adapting…', 'photo → **Photo**');
  threadId = thread.threadId;
  await chat.platform.postFiles(thread, [{ bytes: png, name: 'step-000004.png' }], 'Step 4 / 8');
  before = await readStream();

  // a page still open when the bot stops: stopping must not wait for it
  const openPage = await fetch(`${chat.url}events`);
  openPageEnd = openPage.text().then(
    () => 'ended',
    () => 'ended',
  );
  const stopping = Date.now();
  await chat.close();
  stopMs = Date.now() - stopping;

  // the second process on the same Redis and queue, which goes on talking
  chat = await startLocalChat(config);
  await post('/nada');
});

afterAll(async () => {
  await chat?.close();
  await redis.stop();
  await rm(root, { recursive: true, force: true });
});

describe('the local chat after a restart', () => {
  it('GIVEN a page still connected WHEN the bot stops THEN it stops at once and ends the stream', async () => {
    // the page's browser reconnects on its own once the stream ends
    expect(stopMs).toBeLessThan(1000);
    await expect(openPageEnd).resolves.toBe('ended');
  });

  it('GIVEN messages before the restart THEN ids go on increasing after it', async () => {
    expect(ids(seenBeforeRestart)).toEqual([1, 2]);
    expect(ids(before)).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const after = chat!.platform.messagesAfter(ids(before).at(-1)!);
    expect(after.map((m) => m.kind)).toEqual(['user', 'bot']);
    expect(ids(after)).toEqual([8, 9]);
  });

  it('GIVEN a page that saw ids 1 and 2 WHEN it reconnects with Last-Event-ID 2 THEN it gets 3 to 9 once each', async () => {
    const missed = await readStream(2);
    expect(ids(missed)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(missed.slice(0, 5)).toEqual(before.slice(2));
    expect(missed.at(-2)).toMatchObject({ kind: 'user', text: '/nada' });
  });

  it('GIVEN a page loaded after the restart THEN it shows the whole history, thread and grid included', async () => {
    const history = await readStream();
    expect(ids(history)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(history.slice(0, 7)).toEqual(before);
    expect(history[5]).toMatchObject({ kind: 'thread', threadId });
    expect(chat!.platform.hasThread(threadId)).toBe(true);

    // the grid posted before the restart is still served at its url
    const grid = history.find((m): m is BotMessage => m.kind === 'bot' && !!m.files);
    expect(grid).toMatchObject({ threadId, text: 'Step 4 / 8' });
    const response = await fetch(new URL(grid!.files![0].url, chat!.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const { width } = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect(width).toBe(4);
  });
});

describe('the timeline kept in Redis', () => {
  it('GIVEN more messages than its limit THEN it keeps the newest, in memory and in Redis', async () => {
    const client = createRedis(redis.url);
    const history = new LocalHistory(client, freshQueueName('history'), 3);
    const first = await LocalPlatform.restore({ artifactsDir: root, store: history });
    for (const text of ['a', 'b', 'c', 'd', 'e']) await first.addBotMessage(text);
    expect(ids(first.messagesAfter(0))).toEqual([3, 4, 5]);

    const second = await LocalPlatform.restore({ artifactsDir: root, store: history });
    expect(second.messagesAfter(0).map((m) => (m.kind === 'bot' ? m.text : m.kind))).toEqual([
      'c',
      'd',
      'e',
    ]);
    await second.addBotMessage('f');
    expect(ids(second.messagesAfter(0))).toEqual([4, 5, 6]);
    client.disconnect();
  });

  it('GIVEN a Redis that lost its data WHEN the running bot posts THEN ids go on from the last one', async () => {
    const client = createRedis(redis.url);
    const queueName = freshQueueName('wiped');
    const history = new LocalHistory(client, queueName);
    const platform = await LocalPlatform.restore({ artifactsDir: root, store: history });
    for (const text of ['a', 'b', 'c']) await platform.addBotMessage(text);

    // what a restart without persistence does to this timeline's keys
    const keys = await client.keys(`*${queueName}*`);
    expect(keys.length).toBeGreaterThan(0);
    await client.del(...keys);

    await platform.addBotMessage('d');
    expect(ids(platform.messagesAfter(0))).toEqual([1, 2, 3, 4]);
    client.disconnect();
  });
});
