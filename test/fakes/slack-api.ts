import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SlackFile {
  id: string;
  name: string;
  title: string;
  bytes: Buffer;
  /** message ts of the share, once completed */
  ts?: string;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  user: string;
  text: string;
  /** every text the message had, the first first */
  history: string[];
  files: SlackFile[];
  /** parse settings the bot sent */
  parse?: string;
  /** action ids and values of its buttons now */
  buttons: { actionId: string; value: string }[];
}

export interface SlackCall {
  method: string;
  ok: boolean;
  error?: string;
}

/**
 * A local server that answers like Slack's Web API for the methods nadabot calls
 * (`auth.test`, `chat.postMessage`, `chat.update`, the external upload flow and
 * `files.info`, `response_url` posts), and delivers slash commands, events and button
 * clicks to a Bolt app as Slack does: signed HTTP requests in HTTP mode, or envelopes over a
 * Socket Mode WebSocket (`apps.connections.open`, hello, acknowledgements).
 */
export class FakeSlack {
  readonly team = 'T0FAKE';
  readonly botUser = 'U0NADABOT';
  readonly channel = 'C0NADA';
  readonly otherChannel = 'C0ELSEWHERE';
  readonly signingSecret = randomBytes(16).toString('hex');
  readonly botToken = `xoxb-${randomBytes(8).toString('hex')}`;
  readonly appToken = `xapp-${randomBytes(8).toString('hex')}`;
  /** how deliveries reach the app: signed HTTP requests, or envelopes over Socket Mode */
  mode: 'http' | 'socket' = 'http';
  /** envelope ids the app acknowledged over the socket */
  readonly acked = new Set<string>();
  private wss?: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private pinger?: NodeJS.Timeout;
  readonly messages: SlackMessage[] = [];
  readonly responses: { text: string; responseType?: string }[] = [];
  readonly calls: SlackCall[] = [];
  private readonly files = new Map<string, SlackFile>();
  private server?: Server;
  private tsCounter = 0;
  private fileCounter = 0;
  /** the Web API base to give Bolt's client (`slackApiUrl`) */
  apiUrl = '';
  private base = '';
  /** where Bolt listens: `http://127.0.0.1:<port>/slack/events` */
  eventsUrl = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.route(req, res));
    this.wss = new WebSocketServer({ server: this.server, path: '/socket' });
    this.wss.on('connection', (ws) => this.onSocket(ws));
    // Slack pings Socket Mode clients every few seconds; they watch for it
    this.pinger = setInterval(() => this.sockets.forEach((ws) => ws.ping('fake')), 5000);
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as AddressInfo;
    this.base = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.base}/api/`;
  }

  async stop(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Sends `/nada <text>` as Slack does (form body, signed); returns the HTTP status. */
  async command(
    user: string,
    text: string,
    opts: { channel?: string; triggerId?: string } = {},
  ): Promise<{ status: number; triggerId: string }> {
    const triggerId = opts.triggerId ?? `${Date.now()}.${randomBytes(4).toString('hex')}`;
    const form = new URLSearchParams({
      token: 'deprecated',
      team_id: this.team,
      team_domain: 'fake',
      channel_id: opts.channel ?? this.channel,
      channel_name: 'nada',
      user_id: user,
      user_name: user.toLowerCase(),
      command: '/nada',
      text,
      api_app_id: 'A0NADA',
      is_enterprise_install: 'false',
      response_url: `${this.base}/respond/${triggerId}`,
      trigger_id: triggerId,
    });
    if (this.mode === 'socket') {
      const payload = Object.fromEntries(form);
      return { status: await this.envelope('slash_commands', payload), triggerId };
    }
    const status = await this.deliver(form.toString(), 'application/x-www-form-urlencoded');
    return { status, triggerId };
  }

  /** Delivers an Events API event; the same `eventId` with `retryNum` is a redelivery. */
  async event(
    event: Record<string, unknown>,
    opts: { eventId?: string; retryNum?: number } = {},
  ): Promise<{ status: number; eventId: string }> {
    const eventId = opts.eventId ?? `Ev${randomBytes(5).toString('hex').toUpperCase()}`;
    const callback = {
      token: 'deprecated',
      team_id: this.team,
      api_app_id: 'A0NADA',
      event: { event_ts: this.nextTs(), ...event },
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: this.team, user_id: this.botUser, is_bot: true }],
    };
    if (this.mode === 'socket') {
      const retry = opts.retryNum === undefined ? {} : { retry_attempt: opts.retryNum };
      return { status: await this.envelope('events_api', callback, retry), eventId };
    }
    const body = JSON.stringify(callback);
    const headers: Record<string, string> = {};
    if (opts.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(opts.retryNum);
      headers['x-slack-retry-reason'] = 'http_timeout';
    }
    return { status: await this.deliver(body, 'application/json', headers), eventId };
  }

  /** A person clicks a button of a message (a `block_actions` interaction). */
  async clickButton(user: string, message: SlackMessage, actionId: string): Promise<number> {
    const button = message.buttons.find((b) => b.actionId === actionId);
    if (!button) throw new Error(`message ${message.ts} has no button ${actionId}`);
    const payload = {
      type: 'block_actions',
      team: { id: this.team, domain: 'fake' },
      user: { id: user, username: user.toLowerCase(), team_id: this.team },
      api_app_id: 'A0NADA',
      token: 'deprecated',
      container: {
        type: 'message',
        message_ts: message.ts,
        channel_id: message.channel,
        is_ephemeral: false,
      },
      trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
      channel: { id: message.channel, name: 'nada' },
      message: { type: 'message', ts: message.ts, text: message.text, user: this.botUser },
      response_url: `${this.base}/respond/${message.ts}`,
      actions: [
        {
          type: 'button',
          action_id: actionId,
          block_id: 'b',
          value: button.value,
          action_ts: this.nextTs(),
          text: { type: 'plain_text', text: 'Stop' },
        },
      ],
    };
    if (this.mode === 'socket') return this.envelope('interactive', payload);
    const form = new URLSearchParams({ payload: JSON.stringify(payload) });
    return this.deliver(form.toString(), 'application/x-www-form-urlencoded');
  }

  /** A person replies in a thread. */
  reply(user: string, threadTs: string, text: string, channel = this.channel) {
    const ts = this.nextTs();
    this.messages.push({
      channel,
      ts,
      threadTs,
      user,
      text,
      history: [text],
      files: [],
      buttons: [],
    });
    return this.event({
      type: 'message',
      channel,
      user,
      text,
      ts,
      thread_ts: threadTs,
      channel_type: 'channel',
    });
  }

  /** A person adds or removes a reaction (Slack's short name, e.g. `two`). */
  react(user: string, ts: string, reaction: string, added = true, channel = this.channel) {
    return this.event({
      type: added ? 'reaction_added' : 'reaction_removed',
      user,
      reaction,
      item: { type: 'message', channel, ts },
      item_user: this.botUser,
    });
  }

  /** Messages of a thread (its root excluded), oldest first. */
  thread(threadTs: string): SlackMessage[] {
    return this.messages.filter((m) => m.threadTs === threadTs && m.ts !== threadTs);
  }

  failedCalls(): SlackCall[] {
    return this.calls.filter((c) => !c.ok);
  }

  private nextTs(): string {
    return `${Math.floor(Date.now() / 1000)}.${String(++this.tsCounter).padStart(6, '0')}`;
  }

  private async deliver(
    body: string,
    type: string,
    extra: Record<string, string> = {},
  ): Promise<number> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature =
      'v0=' +
      createHmac('sha256', this.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex');
    const res = await fetch(this.eventsUrl, {
      method: 'POST',
      headers: {
        'content-type': type,
        'x-slack-request-timestamp': timestamp,
        'x-slack-signature': signature,
        ...extra,
      },
      body,
    });
    await res.text();
    return res.status;
  }

  // ---- Socket Mode ----

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (raw) => {
      const { envelope_id: id } = JSON.parse(String(raw)) as { envelope_id?: string };
      if (id) this.acked.add(id);
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.sockets.size,
        connection_info: { app_id: 'A0NADA' },
        debug_info: { host: 'fake', approximate_connection_time: 3600 },
      }),
    );
  }

  // Sends one envelope to the connected app and waits for its acknowledgement (200 when
  // acked, 504 when not, as a timeout would be).
  private async envelope(
    type: string,
    payload: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<number> {
    if (this.sockets.size === 0) throw new Error('no app is connected over Socket Mode');
    const id = randomBytes(8).toString('hex');
    const message = { envelope_id: id, type, payload, accepts_response_payload: false, ...extra };
    for (const ws of this.sockets) ws.send(JSON.stringify(message));
    for (let waited = 0; waited < 3000; waited += 20) {
      if (this.acked.has(id)) return 200;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 504;
  }

  /** Address Socket Mode clients connect to (`apps.connections.open` answers it). */
  private socketUrl(): string {
    return this.base.replace(/^http/, 'ws') + '/socket';
  }

  // ---- Web API ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (url.pathname.startsWith('/upload/')) {
      const file = this.files.get(url.pathname.slice('/upload/'.length));
      if (!file) return send(404, { ok: false });
      file.bytes = await uploadedBytes(body, req.headers['content-type'] ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end(`OK - ${file.bytes.length}`);
    }
    if (url.pathname.startsWith('/respond/')) {
      const json = JSON.parse(String(body));
      this.responses.push({ text: json.text, responseType: json.response_type });
      return send(200, { ok: true });
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const auth = req.headers.authorization;
    const args = parseArgs(body, req.headers['content-type'] ?? '');
    const answer =
      method === 'apps.connections.open'
        ? auth === `Bearer ${this.appToken}`
          ? { ok: true, url: this.socketUrl() }
          : { ok: false, error: 'invalid_auth' }
        : auth === `Bearer ${this.botToken}`
          ? this.answer(method, args)
          : { ok: false, error: 'invalid_auth' };
    this.calls.push({ method, ok: answer.ok as boolean, error: answer.error as string });
    send(200, answer);
  }

  private answer(method: string, a: Record<string, string>): Record<string, unknown> {
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'fake',
          user: 'nadabot',
          team_id: this.team,
          user_id: this.botUser,
          bot_id: 'B0NADABOT',
        };
      case 'chat.postMessage': {
        const message = this.post(a.channel, a.thread_ts, a.text, []);
        message.parse = a.parse;
        message.buttons = buttonsOf(a.blocks);
        return { ok: true, channel: a.channel, ts: message.ts, message: { text: a.text } };
      }
      case 'chat.update': {
        const message = this.messages.find((m) => m.channel === a.channel && m.ts === a.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.text = a.text;
        message.history.push(a.text);
        message.buttons = buttonsOf(a.blocks);
        return { ok: true, channel: a.channel, ts: a.ts };
      }
      case 'files.getUploadURLExternal': {
        const id = `F${String(++this.fileCounter).padStart(8, '0')}`;
        this.files.set(id, { id, name: a.filename, title: a.filename, bytes: Buffer.alloc(0) });
        return { ok: true, upload_url: `${this.base}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal':
        return this.completeUpload(a);
      case 'files.info': {
        const file = this.files.get(a.file);
        if (!file) return { ok: false, error: 'file_not_found' };
        const message = this.messages.find((m) => m.files.includes(file));
        const shares = message
          ? { public: { [message.channel]: [{ ts: message.ts, thread_ts: message.threadTs }] } }
          : {};
        return { ok: true, file: { id: file.id, name: file.name, shares } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private completeUpload(a: Record<string, string>): Record<string, unknown> {
    const list = JSON.parse(a.files) as { id: string; title?: string }[];
    const files = list.map((f) => this.files.get(f.id));
    if (files.some((f) => !f || f.bytes.length === 0))
      return { ok: false, error: 'file_not_found' };
    const message = this.post(
      a.channel_id,
      a.thread_ts,
      a.initial_comment ?? '',
      files as SlackFile[],
    );
    for (const f of files as SlackFile[]) f.ts = message.ts;
    return { ok: true, files: (files as SlackFile[]).map((f) => ({ id: f.id, title: f.title })) };
  }

  private post(channel: string, threadTs: string | undefined, text: string, files: SlackFile[]) {
    const message: SlackMessage = {
      channel,
      ts: this.nextTs(),
      threadTs,
      user: this.botUser,
      text: text ?? '',
      history: [text ?? ''],
      files,
      buttons: [],
    };
    this.messages.push(message);
    return message;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// The upload URL takes the raw bytes, or a multipart form with one file (what the Node
// client sends).
async function uploadedBytes(body: Buffer, type: string): Promise<Buffer> {
  if (!type.startsWith('multipart/form-data')) return body;
  const form = await new Request('http://fake/', {
    method: 'POST',
    headers: { 'content-type': type },
    body: new Uint8Array(body),
  }).formData();
  for (const [, value] of form as unknown as Iterable<[string, string | File]>) {
    if (typeof value !== 'string') return Buffer.from(await value.arrayBuffer());
  }
  return Buffer.alloc(0);
}

// The Web API client posts form-encoded arguments; JSON bodies are accepted too.
function parseArgs(body: Buffer, type: string): Record<string, string> {
  if (type.includes('application/json')) return JSON.parse(String(body));
  return Object.fromEntries(new URLSearchParams(String(body)));
}

// Blocks arrive as JSON text in a form field.
function buttonsOf(blocks: string | undefined): { actionId: string; value: string }[] {
  const list = (blocks ? JSON.parse(blocks) : []) as {
    elements?: { type: string; action_id?: string; value?: string }[];
  }[];
  return list.flatMap((b) =>
    (b.elements ?? [])
      .filter((e) => e.type === 'button')
      .map((e) => ({ actionId: e.action_id ?? '', value: e.value ?? '' })),
  );
}
