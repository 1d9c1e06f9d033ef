import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

// Discord's epoch, for snowflakes that sort by time as real ones do.
const DISCORD_EPOCH = 1420070400000n;
const EPHEMERAL = 1 << 6;
const MESSAGE_CONTENT_INTENT = 1 << 15;
let snowflakeCounter = 0n;

export interface FakeUser {
  id: string;
  username: string;
  roles?: string[];
}

export interface FakeAttachment {
  filename: string;
  size: number;
  contentType: string;
  bytes: Buffer;
}

export interface FakeMessage {
  id: string;
  channelId: string;
  authorId: string;
  content: string;
  attachments: FakeAttachment[];
  allowedMentions?: unknown;
  ephemeral: boolean;
  /** every content the message had, the first first */
  history: string[];
  /** the interaction it answers, for the first reply */
  interactionId?: string;
  /** custom ids of its buttons now */
  buttons: string[];
}

export interface FakeCall {
  method: string;
  path: string;
  status: number;
}

interface Interaction {
  id: string;
  token: string;
  channelId: string;
  messageId?: string;
}

/**
 * A local server that answers like Discord for the calls nadabot makes: REST under
 * `/api/v10` and a gateway WebSocket (HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, and
 * the dispatches a test asks for). Uploads over the channel's limit are refused with 413, as
 * Discord does; a client asking for Message Content without it being allowed is closed with
 * 4014.
 */
export class FakeDiscord {
  readonly appId = this.snowflake();
  readonly guildId = this.snowflake();
  readonly channelId = this.snowflake();
  readonly otherChannelId = this.snowflake();
  readonly bot: FakeUser = { id: this.snowflake(), username: 'nadabot' };
  readonly messages = new Map<string, FakeMessage>();
  readonly calls: FakeCall[] = [];
  /** commands registered, by route (`/applications/<app>/guilds/<guild>/commands`) */
  readonly registered = new Map<string, unknown[]>();
  /** the limit for one file in a channel message, bytes */
  uploadLimitBytes = 10 * 1024 * 1024;
  /** whether the application has the privileged Message Content intent */
  messageContentAllowed = true;
  private readonly threads = new Map<string, { id: string; parentId: string; name: string }>();
  private readonly interactions = new Map<string, Interaction>();
  private readonly answers = new Map<string, string>();
  private readonly sockets = new Set<WebSocket>();
  private readonly users = new Map<string, FakeUser>();
  private server?: Server;
  private wss?: WebSocketServer;
  private sequence = 0;
  identifiedIntents?: number;

  /** REST base to give discord.js (`rest: { api }`). */
  apiUrl = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.route(req, res));
    this.wss = new WebSocketServer({ server: this.server, path: '/gateway' });
    this.wss.on('connection', (ws) => this.onGatewayConnection(ws));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as AddressInfo;
    this.apiUrl = `http://127.0.0.1:${port}/api`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((r) => this.wss?.close(() => r()));
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Number of bots connected to the gateway now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** A person types `/nada`; returns the interaction id. */
  slashCommand(
    user: FakeUser,
    name: string,
    options: Record<string, string | number>,
    opts: { channelId?: string; attachmentSizeLimit?: number; interactionId?: string } = {},
  ): string {
    this.users.set(user.id, user);
    const id = opts.interactionId ?? this.snowflake();
    const channelId = opts.channelId ?? this.channelId;
    // a redelivery carries the same id and token
    const token = this.interactions.get(id)?.token ?? randomBytes(16).toString('hex');
    if (!this.interactions.has(id)) this.interactions.set(id, { id, token, channelId });
    const thread = this.threads.get(channelId);
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.appId,
      type: 2,
      data: {
        id: this.snowflake(),
        name,
        type: 1,
        options: Object.entries(options).map(([k, v]) => ({
          name: k,
          type: typeof v === 'number' ? 4 : 3,
          value: v,
        })),
      },
      guild_id: this.guildId,
      channel_id: channelId,
      channel: thread ? this.threadObject(thread) : this.textChannel(channelId),
      member: this.member(user),
      token,
      version: 1,
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: opts.attachmentSizeLimit ?? this.uploadLimitBytes,
    });
    return id;
  }

  /** A person clicks a button under a message; returns the interaction id. */
  clickButton(user: FakeUser, messageId: string, customId: string): string {
    this.users.set(user.id, user);
    const message = this.messages.get(messageId);
    if (!message) throw new Error(`no message ${messageId}`);
    const id = this.snowflake();
    const token = randomBytes(16).toString('hex');
    this.interactions.set(id, { id, token, channelId: message.channelId });
    const thread = this.threads.get(message.channelId);
    this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.appId,
      type: 3,
      data: { custom_id: customId, component_type: 2 },
      message: this.messageObject(message),
      guild_id: this.guildId,
      channel_id: message.channelId,
      channel: thread ? this.threadObject(thread) : this.textChannel(message.channelId),
      member: this.member(user),
      token,
      version: 1,
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: this.uploadLimitBytes,
    });
    return id;
  }

  /** How an interaction was answered: 'message', 'ephemeral', 'deferred-update' or none. */
  interactionAnswer(interactionId: string): string | undefined {
    return this.answers.get(interactionId);
  }

  /** A person replies in a thread; without the intent, content arrives only with a mention. */
  reply(user: FakeUser, threadId: string, content: string): string {
    this.users.set(user.id, user);
    const id = this.snowflake();
    const mentionsBot = content.includes(`<@${this.bot.id}>`);
    const visible = this.identifiedWithContent() || mentionsBot ? content : '';
    this.dispatch('MESSAGE_CREATE', {
      ...this.messageObject({
        id,
        channelId: threadId,
        authorId: user.id,
        content: visible,
        attachments: [],
        ephemeral: false,
        history: [],
        buttons: [],
      }),
      author: this.userObject(user),
      member: this.member(user),
      mentions: mentionsBot ? [this.userObject(this.bot)] : [],
    });
    return id;
  }

  /** A person puts a reaction on (or takes it off) a message. */
  react(user: FakeUser, messageId: string, emoji: string, added = true): void {
    this.users.set(user.id, user);
    const message = this.messages.get(messageId);
    if (!message) throw new Error(`no message ${messageId}`);
    const data = {
      user_id: user.id,
      channel_id: message.channelId,
      message_id: messageId,
      guild_id: this.guildId,
      emoji: { id: null, name: emoji },
      burst: false,
      type: 0,
      ...(added ? { member: this.member(user), message_author_id: message.authorId } : {}),
    };
    this.dispatch(added ? 'MESSAGE_REACTION_ADD' : 'MESSAGE_REACTION_REMOVE', data);
  }

  /** Messages in a channel or thread (not ephemeral ones), oldest first. */
  channelMessages(channelId: string): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channelId === channelId && !m.ephemeral);
  }

  /** The message that answered an interaction (ephemeral or not). */
  interactionReply(interactionId: string): FakeMessage | undefined {
    return [...this.messages.values()].find((m) => m.interactionId === interactionId);
  }

  /** The thread opened on a message, if any. */
  threadOn(messageId: string): string | undefined {
    return this.threads.has(messageId) ? messageId : undefined;
  }

  /** Calls that no route answered, or that the fake refused. */
  failedCalls(): FakeCall[] {
    return this.calls.filter((c) => c.status >= 400);
  }

  private identifiedWithContent(): boolean {
    return ((this.identifiedIntents ?? 0) & MESSAGE_CONTENT_INTENT) !== 0;
  }

  // ---- gateway ----

  private onGatewayConnection(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (raw) => this.onGatewayMessage(ws, JSON.parse(String(raw))));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41250 }, s: null, t: null }));
  }

  private onGatewayMessage(ws: WebSocket, payload: { op: number; d: { intents?: number } }): void {
    if (payload.op === 1) return ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
    if (payload.op !== 2) return;
    const intents = Number(payload.d.intents);
    if (intents & MESSAGE_CONTENT_INTENT && !this.messageContentAllowed) {
      ws.close(4014, 'Disallowed intent(s).');
      return;
    }
    this.identifiedIntents = intents;
    this.send(ws, 'READY', {
      v: 10,
      user: { ...this.userObject(this.bot), bot: true, verified: true, flags: 0 },
      guilds: [{ id: this.guildId, unavailable: true }],
      session_id: randomBytes(8).toString('hex'),
      resume_gateway_url: this.gatewayUrl(),
      shard: [0, 1],
      application: { id: this.appId, flags: 0 },
      private_channels: [],
      user_settings: {},
      relationships: [],
      guild_join_requests: [],
      presences: [],
      geo_ordered_rtc_regions: [],
    });
    this.send(ws, 'GUILD_CREATE', this.guildObject());
  }

  private dispatch(t: string, d: unknown): void {
    if (this.sockets.size === 0) throw new Error(`no bot is connected to receive ${t}`);
    for (const ws of this.sockets) this.send(ws, t, d);
  }

  private send(ws: WebSocket, t: string, d: unknown): void {
    ws.send(JSON.stringify({ op: 0, t, s: ++this.sequence, d }));
  }

  private gatewayUrl(): string {
    return this.apiUrl.replace(/^http/, 'ws').replace(/\/api$/, '/gateway');
  }

  // ---- REST ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/^\/api\/v10/, '');
    const body = await readBody(req);
    const send = (status: number, json?: unknown) => {
      this.calls.push({ method: req.method ?? '', path, status });
      if (json === undefined) return void res.writeHead(status).end();
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    try {
      const answer = await this.answer(req.method ?? 'GET', path, url, body, req);
      send(answer.status, answer.json);
    } catch (err) {
      send(500, { message: String(err), code: 0 });
    }
  }

  private async answer(
    method: string,
    path: string,
    url: URL,
    body: Buffer,
    req: IncomingMessage,
  ): Promise<{ status: number; json?: unknown }> {
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/gateway/bot') {
      return {
        status: 200,
        json: {
          url: this.gatewayUrl(),
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
        },
      };
    }
    if (method === 'POST' && (m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path))) {
      return this.interactionCallback(m[1], m[2], url, await parsePayload(body, req));
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/@original$/.exec(path))) {
      const interaction = [...this.interactions.values()].find((i) => i.token === m![2]);
      const message = interaction?.messageId && this.messages.get(interaction.messageId);
      if (!message) return { status: 404, json: { message: 'Unknown Message', code: 10008 } };
      if (method === 'PATCH') this.edit(message, (await parsePayload(body, req)).json);
      return { status: 200, json: this.messageObject(message) };
    }
    if (method === 'POST' && (m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path))) {
      const interaction = [...this.interactions.values()].find((i) => i.token === m![2]);
      if (!interaction) return { status: 404, json: { message: 'Unknown Webhook', code: 10015 } };
      const payload = await parsePayload(body, req);
      const message = this.create(interaction.channelId, payload.json, [], this.bot.id);
      message.ephemeral = ((payload.json.flags ?? 0) & EPHEMERAL) !== 0;
      return { status: 200, json: this.messageObject(message) };
    }
    if (method === 'POST' && (m = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(path))) {
      const json = JSON.parse(String(body));
      const thread = { id: m[2], parentId: m[1], name: String(json.name) };
      if (this.threads.has(thread.id))
        return {
          status: 400,
          json: { message: 'A thread has already been created for this message', code: 160004 },
        };
      this.threads.set(thread.id, thread);
      this.dispatch('THREAD_CREATE', { ...this.threadObject(thread), newly_created: true });
      return { status: 201, json: this.threadObject(thread) };
    }
    if (method === 'GET' && (m = /^\/channels\/(\d+)$/.exec(path))) {
      const thread = this.threads.get(m[1]);
      if (thread) return { status: 200, json: this.threadObject(thread) };
      if (m[1] === this.channelId || m[1] === this.otherChannelId)
        return { status: 200, json: this.textChannel(m[1]) };
      return { status: 404, json: { message: 'Unknown Channel', code: 10003 } };
    }
    if (method === 'POST' && (m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      const payload = await parsePayload(body, req);
      const tooLarge = payload.files.find((f) => f.size > this.uploadLimitBytes);
      if (tooLarge)
        return { status: 413, json: { message: 'Request entity too large', code: 40005 } };
      const message = this.create(m[1], payload.json, payload.files, this.bot.id);
      return { status: 200, json: this.messageObject(message) };
    }
    if (method === 'PATCH' && (m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
      const message = this.messages.get(m[2]);
      if (!message) return { status: 404, json: { message: 'Unknown Message', code: 10008 } };
      this.edit(message, JSON.parse(String(body)));
      return { status: 200, json: this.messageObject(message) };
    }
    if (method === 'GET' && (m = /^\/guilds\/(\d+)\/members\/(\d+)$/.exec(path))) {
      const user = this.users.get(m[2]);
      if (!user) return { status: 404, json: { message: 'Unknown Member', code: 10007 } };
      return { status: 200, json: this.member(user) };
    }
    if (method === 'PUT' && /^\/applications\/\d+(\/guilds\/\d+)?\/commands$/.test(path)) {
      const commands = JSON.parse(String(body)) as { name: string }[];
      this.registered.set(path, commands);
      return {
        status: 200,
        json: commands.map((c) => ({
          ...c,
          id: this.snowflake(),
          application_id: this.appId,
          version: '1',
        })),
      };
    }
    return { status: 404, json: { message: `no route ${method} ${path}`, code: 0 } };
  }

  private interactionCallback(
    id: string,
    token: string,
    url: URL,
    payload: Payload,
  ): { status: number; json?: unknown } {
    const interaction = this.interactions.get(id);
    if (!interaction || interaction.token !== token)
      return { status: 404, json: { message: 'Unknown interaction', code: 10062 } };
    if (interaction.messageId || this.answers.has(id))
      return {
        status: 400,
        json: { message: 'Interaction has already been acknowledged.', code: 40060 },
      };
    if (payload.json.type === 6) {
      this.answers.set(id, 'deferred-update');
      return { status: 204 };
    }
    const data = payload.json.data ?? {};
    const content: Body = payload.json.type === 5 ? {} : data;
    const message = this.create(interaction.channelId, content, payload.files, this.bot.id);
    message.ephemeral = ((data.flags ?? 0) & EPHEMERAL) !== 0;
    message.interactionId = id;
    interaction.messageId = message.id;
    this.answers.set(id, message.ephemeral ? 'ephemeral' : 'message');
    if (url.searchParams.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      json: {
        interaction: {
          id,
          type: 2,
          activity_instance_id: null,
          response_message_id: message.id,
          response_message_loading: payload.json.type === 5,
          response_message_ephemeral: message.ephemeral,
        },
        resource: { type: payload.json.type, message: this.messageObject(message) },
      },
    };
  }

  private create(
    channelId: string,
    json: Body,
    files: FakeAttachment[],
    authorId: string,
  ): FakeMessage {
    const message: FakeMessage = {
      id: this.snowflake(),
      channelId,
      authorId,
      content: String(json?.content ?? ''),
      attachments: files,
      allowedMentions: json?.allowed_mentions,
      ephemeral: false,
      history: [String(json?.content ?? '')],
      buttons: customIds(json?.components),
    };
    this.messages.set(message.id, message);
    return message;
  }

  private edit(message: FakeMessage, json: Body): void {
    if (json.content !== undefined) {
      message.content = String(json.content);
      message.history.push(message.content);
    }
    if (json.allowed_mentions !== undefined) message.allowedMentions = json.allowed_mentions;
    if (json.components !== undefined) message.buttons = customIds(json.components);
  }

  // ---- payload shapes ----

  private snowflake(): string {
    const ms = BigInt(Date.now()) - DISCORD_EPOCH;
    return String((ms << 22n) | (snowflakeCounter++ & 0xfffn));
  }

  private userObject(user: FakeUser) {
    return {
      id: user.id,
      username: user.username,
      discriminator: '0',
      global_name: user.username,
      avatar: null,
      bot: user.id === this.bot.id,
    };
  }

  private member(user: FakeUser) {
    return {
      user: this.userObject(user),
      roles: user.roles ?? [],
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      nick: null,
      avatar: null,
      permissions: '2248473465835073',
    };
  }

  private textChannel(id: string) {
    return {
      id,
      type: 0,
      guild_id: this.guildId,
      name: id === this.channelId ? 'nada' : 'elsewhere',
      position: id === this.channelId ? 0 : 1,
      permission_overwrites: [],
      parent_id: null,
      nsfw: false,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      flags: 0,
    };
  }

  private threadObject(t: { id: string; parentId: string; name: string }) {
    return {
      id: t.id,
      type: 11,
      guild_id: this.guildId,
      parent_id: t.parentId,
      owner_id: this.bot.id,
      name: t.name,
      last_message_id: null,
      rate_limit_per_user: 0,
      message_count: 0,
      member_count: 1,
      flags: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: 1440,
        archive_timestamp: new Date().toISOString(),
        locked: false,
      },
    };
  }

  private guildObject() {
    return {
      id: this.guildId,
      name: 'nadabot test',
      icon: null,
      owner_id: this.snowflake(),
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [
        {
          id: this.guildId,
          name: '@everyone',
          permissions: '2248473465835073',
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      system_channel_id: null,
      joined_at: new Date(0).toISOString(),
      large: false,
      unavailable: false,
      member_count: 2,
      members: [this.member(this.bot)],
      channels: [this.textChannel(this.channelId), this.textChannel(this.otherChannelId)],
      threads: [...this.threads.values()].map((t) => this.threadObject(t)),
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      premium_tier: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
    };
  }

  private messageObject(m: FakeMessage) {
    const author = this.users.get(m.authorId) ?? this.bot;
    return {
      id: m.id,
      channel_id: m.channelId,
      guild_id: this.guildId,
      author: this.userObject(author),
      content: m.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: m.attachments.map((a, i) => ({
        id: `${m.id}${i}`,
        filename: a.filename,
        size: a.size,
        content_type: a.contentType,
        url: `https://cdn.invalid/${a.filename}`,
        proxy_url: `https://cdn.invalid/${a.filename}`,
      })),
      embeds: [],
      pinned: false,
      type: m.interactionId ? 20 : 0,
      flags: m.ephemeral ? EPHEMERAL : 0,
      components: m.buttons.length
        ? [
            {
              type: 1,
              components: m.buttons.map((id) => ({
                type: 2,
                style: 2,
                custom_id: id,
                label: 'Stop',
              })),
            },
          ]
        : [],
    };
  }
}

function customIds(components: unknown): string[] {
  const rows = (components ?? []) as { components?: { custom_id?: string }[] }[];
  return rows.flatMap((r) => (r.components ?? []).map((c) => c.custom_id ?? ''));
}

/** The fields of a request body the fake reads (interaction callbacks nest them in `data`). */
interface Body {
  type?: number;
  content?: string;
  flags?: number;
  name?: string;
  allowed_mentions?: unknown;
  components?: unknown;
  data?: Body;
}

interface Payload {
  json: Body;
  files: FakeAttachment[];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// discord.js sends JSON, or multipart with `payload_json` and `files[n]` when uploading.
async function parsePayload(body: Buffer, req: IncomingMessage): Promise<Payload> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) {
    return { json: body.length ? JSON.parse(String(body)) : {}, files: [] };
  }
  const form = await new Request('http://fake/', {
    method: 'POST',
    headers: { 'content-type': type },
    body: new Uint8Array(body),
  }).formData();
  const files: FakeAttachment[] = [];
  for (const [key, value] of form as unknown as Iterable<[string, string | File]>) {
    if (!key.startsWith('files[') || typeof value === 'string') continue;
    const bytes = Buffer.from(await value.arrayBuffer());
    files.push({ filename: value.name, size: bytes.length, contentType: value.type, bytes });
  }
  const json = JSON.parse(String(form.get('payload_json') ?? '{}'));
  return { json, files };
}
