import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadConversation } from '../src/chat/thread-conversation.ts';
import { createRedis } from '../src/jobs/connection.ts';
import { openRunEvents } from '../src/jobs/events.ts';
import { createAdaptQueue, type AdaptQueue } from '../src/jobs/queue.ts';
import { LocalPlatform, type LocalMessage } from '../src/platforms/local/local-platform.ts';
import { buildLocalServer, type LocalServer } from '../src/platforms/local/server.ts';
import { NO_LIMITS } from './helpers/local-chat.ts';
import { freshQueueName, startTestRedis, type TestRedis } from './helpers/redis.ts';

let redisServer: TestRedis;
let redis: Redis;
let eventsRedis: Redis;
let queue: AdaptQueue;
let events: QueueEvents;
let platform: LocalPlatform;
let server: LocalServer;
let baseUrl: string;
let root: string;
let artifactsDir: string;

beforeAll(async () => {
  // an artifact store with one grid, and a secret file beside it
  root = await mkdtemp(path.join(tmpdir(), 'nadabot-local-'));
  artifactsDir = path.join(root, 'artifacts');
  await mkdir(path.join(artifactsDir, 'run1', 'grids'), { recursive: true });
  const png = await sharp({
    create: { width: 4, height: 4, channels: 3, background: { r: 200, g: 10, b: 10 } },
  })
    .png()
    .toBuffer();
  await writeFile(path.join(artifactsDir, 'run1', 'grids', 'step-000000.png'), png);
  await writeFile(path.join(root, 'secret.png'), 'not for the web');
  await symlink(path.join(root, 'secret.png'), path.join(artifactsDir, 'run1', 'link.png'));

  // the server with a real conversation on a real queue
  redisServer = await startTestRedis();
  redis = createRedis(redisServer.url);
  eventsRedis = createRedis(redisServer.url);
  const queueName = freshQueueName('local');
  queue = createAdaptQueue(queueName, redis);
  events = await openRunEvents(queueName, eventsRedis);
  platform = new LocalPlatform({ artifactsDir });
  const conversation = new ThreadConversation({
    platform,
    queue,
    redis,
    events,
    artifactsDir,
    limits: { defaultSource: 'photo', defaultSteps: 8, maxSteps: 100 },
    outputInterval: 4,
    ...NO_LIMITS,
  });
  server = buildLocalServer({ platform, conversation, maxSteps: 100, artifactsDir });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await server.close();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  eventsRedis.disconnect();
  await redisServer.stop();
  await rm(root, { recursive: true, force: true });
});

async function postJson(route: string, body: unknown): Promise<number> {
  const response = await fetch(`${baseUrl}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return response.status;
}

function post(text: string, threadId?: string): Promise<number> {
  return postJson('/messages', threadId ? { text, threadId } : { text });
}

/** Reads the event stream until `count` messages arrived. */
async function readEvents(count: number, lastEventId = 0): Promise<LocalMessage[]> {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}/events`, {
    headers: { 'last-event-id': String(lastEventId) },
    signal: controller.signal,
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const messages: LocalMessage[] = [];
  while (messages.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
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

describe('the local web chat', () => {
  it('GIVEN the page THEN it is a chat thread with an input box and its script', async () => {
    const html = await (await fetch(`${baseUrl}/`)).text();
    expect(html).toContain('<main id="timeline"');
    expect(html).toMatch(/<input\s+id="input"/);
    const script = await fetch(`${baseUrl}/app.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain("new EventSource('/events')");
  });

  it('GIVEN typed messages THEN the stream shows them with the friendly answers, in order', async () => {
    expect(await post('/nada \u200b\u200b')).toBe(202);
    expect(await post('/nada photo')).toBe(202);
    expect(await post('/nada <img src=x onerror=alert(1)> --steps 4')).toBe(202);

    const messages = await readEvents(8);
    expect(messages.map((m) => m.kind)).toEqual([
      'user',
      'bot',
      'user',
      'bot',
      'user',
      'bot',
      'thread',
      'bot',
    ]);
    expect(messages[1]).toMatchObject({ text: expect.stringMatching(/only invisible characters/) });
    expect(messages[3]).toMatchObject({ text: expect.stringMatching(/same as the source/) });
    expect(messages[5]).toMatchObject({
      text: expect.stringMatching(/^Adapting photo → \*\*\\<img/),
    });
    // the thread opens on the answer; its first post is the queue line with a stop button
    const threadId = messages[6].threadId;
    expect(messages[7]).toMatchObject({
      threadId,
      text: 'Queue position: next in line.',
      stopRunId: expect.any(String),
    });
    expect(await queue.count()).toBe(1);
  });

  it('GIVEN a reconnect with Last-Event-ID THEN only newer messages are sent', async () => {
    await post('/help');
    const all = platform.messagesAfter(0);
    const replayed = await readEvents(2, all.at(-3)!.id);
    expect(replayed.map((m) => m.id)).toEqual([all.at(-2)!.id, all.at(-1)!.id]);
  });

  it('GIVEN a grid in the artifact store THEN it is served as a PNG', async () => {
    const response = await fetch(`${baseUrl}/artifacts/run1/grids/step-000000.png`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const { width } = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect(width).toBe(4);
  });

  it.each([
    '/artifacts/../secret.png',
    '/artifacts/%2e%2e/secret.png',
    '/artifacts/run1/%2e%2e/%2e%2e/secret.png',
    '/artifacts/..%2fsecret.png',
    '/artifacts/%2Fetc%2Fpasswd.png',
    '/artifacts/run1/link.png',
    '/artifacts/run1/grids/missing.png',
    '/artifacts/run1/grids',
  ])('GIVEN %s THEN nothing outside the store (or missing) is served', async (url) => {
    const response = await fetch(`${baseUrl}${url}`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('not for the web');
  });

  it('GIVEN the stop button of the queue line THEN the run leaves the queue and the button goes', async () => {
    const line = platform.messagesAfter(0).find((m) => m.kind === 'bot' && m.stopRunId)!;
    const runId = line.kind === 'bot' ? line.stopRunId! : '';
    expect(await queue.getJob(runId)).toBeDefined();

    expect(await postJson('/stop', { messageId: line.id })).toBe(202);
    expect(await queue.getJob(runId)).toBeUndefined();
    const after = platform.messagesAfter(line.id);
    expect(after).toContainEqual(
      expect.objectContaining({ kind: 'edit', target: line.id, text: 'Queue position: done.' }),
    );
    expect(after.find((m) => m.kind === 'edit' && m.target === line.id)).not.toHaveProperty(
      'stopRunId',
    );
    expect(after.at(-1)).toMatchObject({
      threadId: line.threadId,
      text: 'Your run was taken off the queue before it started.',
    });
    // the button is gone: pressing it again finds nothing to stop
    expect(await postJson('/stop', { messageId: line.id })).toBe(404);
  });

  it('GIVEN a reaction on a message THEN the timeline records it for every page', async () => {
    const target = platform.messagesAfter(0).find((m) => m.kind === 'bot')!;
    expect(await postJson('/reactions', { messageId: target.id, emoji: '1️⃣', added: true })).toBe(
      202,
    );
    expect(platform.messagesAfter(target.id).at(-1)).toMatchObject({
      kind: 'reaction',
      target: target.id,
      emoji: '1️⃣',
      added: true,
    });
  });

  it.each([
    ['/reactions', { messageId: 'one', emoji: '1️⃣', added: true }, 400],
    ['/reactions', { messageId: 1, emoji: '1️⃣' }, 400],
    ['/reactions', { messageId: 999_999, emoji: '1️⃣', added: true }, 404],
    ['/stop', { messageId: -1 }, 400],
    ['/messages', { text: 'save', threadId: '../../etc' }, 400],
    ['/messages', { text: 'save', threadId: 'tnosuchthread' }, 404],
  ])('GIVEN POST %s %j THEN it is refused with %i', async (route, body, status) => {
    expect(await postJson(route, body)).toBe(status);
  });

  it('GIVEN a file the bot posts THEN the page gets its link and the bytes are served', async () => {
    const png = await sharp({
      create: { width: 3, height: 2, channels: 3, background: { r: 0, g: 90, b: 0 } },
    })
      .png()
      .toBuffer();
    const thread = { channelId: 'local', threadId: 'tfile' };
    const id = await platform.postFiles(thread, [{ bytes: png, name: 'step-000004.png' }], 'grid');
    const message = platform.find(Number(id));
    expect(message).toMatchObject({ kind: 'bot', text: 'grid', threadId: 'tfile' });
    const [file] = message?.kind === 'bot' ? message.files! : [];
    expect(file.url).toMatch(/^\/artifacts\/\.local-chat\/tfile\/[0-9a-f]{8}-step-000004\.png$/);
    const response = await fetch(`${baseUrl}${file.url}`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(png)).toBe(true);
  });

  it('GIVEN a body that is not text THEN the request is refused', async () => {
    const response = await fetch(`${baseUrl}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 42 }),
    });
    expect(response.status).toBe(400);
  });
});
