import { readFile } from 'node:fs/promises';
import Fastify, { type FastifyReply } from 'fastify';
import { z } from 'zod';
import { logger } from '../../log.ts';
import { openArtifactImage } from './artifact-files.ts';
import {
  handleReacted,
  handleStopButton,
  handleTyped,
  type LocalChatParts,
} from './local-events.ts';
import type { LocalMessage, LocalPlatform } from './local-platform.ts';

const PUBLIC_DIR = new URL('./public/', import.meta.url);
const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
// A comment line now and then keeps proxies and the browser from closing an idle stream.
const KEEPALIVE_MS = 25_000;
const MAX_MESSAGE_CHARS = 20_000;

const THREAD_ID = z.string().regex(/^[\w-]{1,64}$/);
const MESSAGE_ID = z.number().int().positive();
const TypedBody = z.object({
  text: z.string().max(MAX_MESSAGE_CHARS),
  threadId: THREAD_ID.optional(),
});
const ReactionBody = z.object({
  messageId: MESSAGE_ID,
  emoji: z.string().min(1).max(16),
  added: z.boolean(),
});
const StopBody = z.object({ messageId: MESSAGE_ID });

export interface LocalServerOptions extends LocalChatParts {
  artifactsDir: string;
}

/**
 * The local web chat: one static page that looks like a chat channel with threads, the
 * timeline streamed as server-sent events (`GET /events`), typed messages posted to
 * `POST /messages` (`{ text, threadId? }`), reactions to `POST /reactions`
 * (`{ messageId, emoji, added }`), the stop button to `POST /stop` (`{ messageId }`), and the
 * posted images served from the artifact store (`GET /artifacts/…`).
 */
export function buildLocalServer(opts: LocalServerOptions) {
  const app = Fastify({
    // one line per request would drown the run's own lines: only warnings and errors
    loggerInstance: logger.child({ part: 'local-chat' }, { level: 'warn' }),
    bodyLimit: 256 * 1024,
    // open pages never end their event streams: closing would wait for ever without this
    forceCloseConnections: true,
  });

  for (const [route, file] of Object.entries(PAGES)) {
    app.get(route, async (_request, reply) => sendPage(reply, file));
  }

  app.get('/events', (request, reply) => {
    const lastId = Number(request.headers['last-event-id'] ?? 0) || 0;
    streamTimeline(opts.platform, reply, lastId);
  });

  app.post('/messages', async (request, reply) => {
    const body = TypedBody.safeParse(request.body);
    if (!body.success) {
      return reply.code(400).send({
        error: `send { text, threadId? }: text a string of at most ${MAX_MESSAGE_CHARS} characters`,
      });
    }
    const { text, threadId } = body.data;
    if (threadId && !opts.platform.hasThread(threadId)) {
      return reply.code(404).send({ error: 'no such thread on the page' });
    }
    await handleTyped(opts, text, threadId);
    return reply.code(202).send({ ok: true });
  });

  app.post('/reactions', async (request, reply) => {
    const body = ReactionBody.safeParse(request.body);
    if (!body.success) {
      return reply.code(400).send({ error: 'send { messageId, emoji, added }' });
    }
    if (!opts.platform.find(body.data.messageId)) {
      return reply.code(404).send({ error: 'no such message' });
    }
    await handleReacted(opts, body.data.messageId, body.data.emoji, body.data.added);
    return reply.code(202).send({ ok: true });
  });

  app.post('/stop', async (request, reply) => {
    const body = StopBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: 'send { messageId }' });
    if (!(await handleStopButton(opts, body.data.messageId))) {
      return reply.code(404).send({ error: 'that message has no stop button' });
    }
    return reply.code(202).send({ ok: true });
  });

  app.get<{ Params: { '*': string } }>('/artifacts/*', async (request, reply) => {
    const file = await openArtifactImage(opts.artifactsDir, request.params['*']);
    if (!file) return reply.code(404).send({ error: 'no such image' });
    return reply.type(file.contentType).header('content-length', file.bytes).send(file.stream);
  });

  return app;
}

export type LocalServer = ReturnType<typeof buildLocalServer>;

async function sendPage(reply: FastifyReply, file: string) {
  const body = await readFile(new URL(file, PUBLIC_DIR), 'utf8');
  const type = CONTENT_TYPES[file.split('.').pop() ?? 'html'];
  return reply.type(type).header('cache-control', 'no-cache').send(body);
}

function streamTimeline(platform: LocalPlatform, reply: FastifyReply, lastId: number): void {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });

  // something at once, so the headers go out and the page knows it is connected
  raw.write('retry: 3000\n\n');

  const send = (message: LocalMessage) =>
    raw.write(`id: ${message.id}\ndata: ${JSON.stringify(message)}\n\n`);
  for (const message of platform.messagesAfter(lastId)) send(message);

  const unsubscribe = platform.subscribe(send);
  const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
  raw.on('close', () => {
    clearInterval(keepalive);
    unsubscribe();
  });
}
