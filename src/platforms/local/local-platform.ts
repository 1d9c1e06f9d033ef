import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { markdownFormat } from '../../chat/format.ts';
import type { ThreadRef } from '../../chat/platform.ts';
import type { MessageControls, ThreadFile, ThreadPlatform } from '../../chat/thread-platform.ts';
import { LOCAL_HISTORY_LIMIT, type LocalHistory, type UnsavedMessage } from './local-history.ts';

/** A file the bot posted, as the page links it. */
export interface LocalFile {
  /** `/artifacts/.local-chat/…`, served from the artifact store */
  url: string;
  name: string;
}

/**
 * One entry of the local chat's timeline, as the page receives it. Edits and reactions are
 * entries of their own that name the message they change (`target`), so a page reconnecting
 * with `Last-Event-ID`, or one loaded later, replays them in order.
 */
export type LocalMessage = {
  id: number;
  time: string;
  threadId?: string;
} & (
  | { kind: 'user'; text: string }
  | { kind: 'bot'; text: string; files?: LocalFile[]; stopRunId?: string }
  | { kind: 'thread'; title: string }
  | { kind: 'edit'; target: number; text: string; stopRunId?: string }
  | { kind: 'reaction'; target: number; emoji: string; added: boolean }
);

type NewMessage = UnsavedMessage extends infer M
  ? M extends UnsavedMessage
    ? Omit<M, 'time'>
    : never
  : never;

/** The channel id of the local chat: it has one channel, the page. */
export const LOCAL_CHANNEL = 'local';

/** Where posted files go, inside the artifact store (a name no run id takes). */
export const LOCAL_FILES_DIR = '.local-chat';

// The page has no upload limit of its own; this keeps a grid's bytes reasonable to stream.
const LOCAL_MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

export interface LocalPlatformOptions {
  /** absolute path of the artifact store: posted files are written below it */
  artifactsDir: string;
  /** the timeline in Redis; without one (tests) ids start at 1 in each process */
  store?: LocalHistory;
}

/**
 * The local web chat as a threaded chat platform: one channel whose timeline is streamed to
 * every open page. A thread is a titled divider that its posts follow; the page offers
 * number reactions on grids, ⏹ and 🔁, and replies inside a thread, as Discord and Slack do.
 * Text uses the same markdown as Discord, rendered by the page.
 *
 * The latest messages are held in memory for the pages; with a `LocalHistory` they are also
 * kept in Redis, which gives the ids, so a restarted bot continues the same timeline
 * (`LocalPlatform.restore`).
 */
export class LocalPlatform implements ThreadPlatform {
  readonly name = 'local';
  readonly format = markdownFormat;
  readonly maxUploadBytes = LOCAL_MAX_UPLOAD_BYTES;
  private history: LocalMessage[] = [];
  private readonly listeners = new Set<(message: LocalMessage) => void>();
  private nextId = 1;

  constructor(private readonly opts: LocalPlatformOptions) {}

  /**
   * The local chat on the timeline kept in Redis, with the messages from before a restart.
   *
   * @example
   * const platform = await LocalPlatform.restore({ artifactsDir, store: new LocalHistory(redis, 'nada') });
   * platform.messagesAfter(0).length; // 57, the messages posted before the restart
   */
  static async restore(opts: Required<LocalPlatformOptions>): Promise<LocalPlatform> {
    const platform = new LocalPlatform(opts);
    platform.history = await opts.store.load();
    return platform;
  }

  /** Posts `text` in the channel and opens a thread on it titled `title` (already escaped). */
  async openThread(text: string, title: string): Promise<ThreadRef> {
    const threadId = `t${randomBytes(6).toString('hex')}`;
    await this.push({ kind: 'bot', text });
    await this.push({ kind: 'thread', title, threadId });
    return { channelId: LOCAL_CHANNEL, threadId };
  }

  async postText(thread: ThreadRef, text: string, controls?: MessageControls): Promise<string> {
    const id = await this.push({
      kind: 'bot',
      text,
      threadId: thread.threadId,
      ...(controls?.stopRunId ? { stopRunId: controls.stopRunId } : {}),
    });
    return String(id);
  }

  async editText(
    thread: ThreadRef,
    messageId: string,
    text: string,
    controls?: MessageControls,
  ): Promise<void> {
    await this.push({
      kind: 'edit',
      target: Number(messageId),
      text,
      threadId: thread.threadId,
      ...(controls?.stopRunId ? { stopRunId: controls.stopRunId } : {}),
    });
  }

  async postFiles(thread: ThreadRef, files: ThreadFile[], text: string): Promise<string> {
    const dir = path.join(this.opts.artifactsDir, LOCAL_FILES_DIR, thread.threadId);
    await mkdir(dir, { recursive: true });
    const posted: LocalFile[] = [];
    for (const file of files) {
      // a fresh prefix: the same name (a second "save") never overwrites what a page shows
      const stored = `${randomBytes(4).toString('hex')}-${path.basename(file.name)}`;
      await writeFile(path.join(dir, stored), file.bytes);
      const parts = [LOCAL_FILES_DIR, thread.threadId, stored];
      posted.push({
        url: '/artifacts/' + parts.map(encodeURIComponent).join('/'),
        name: file.name,
      });
    }
    const id = await this.push({ kind: 'bot', text, files: posted, threadId: thread.threadId });
    return String(id);
  }

  /** Adds what the person typed to the timeline, in a thread or in the channel. */
  async addUserMessage(text: string, threadId?: string): Promise<number> {
    return this.push({ kind: 'user', text, ...(threadId ? { threadId } : {}) });
  }

  /** Adds a bot message that answers the person, in a thread or in the channel. */
  async addBotMessage(text: string, threadId?: string): Promise<number> {
    return this.push({ kind: 'bot', text, ...(threadId ? { threadId } : {}) });
  }

  /** Records a reaction put on (or taken off) a message of the timeline. */
  async addReaction(target: number, emoji: string, added: boolean): Promise<number> {
    const threadId = this.find(target)?.threadId;
    return this.push({ kind: 'reaction', target, emoji, added, ...(threadId ? { threadId } : {}) });
  }

  /** The message with this id, while it is in the timeline. */
  find(id: number): LocalMessage | undefined {
    return this.history.find((m) => m.id === id);
  }

  /** True when a thread with this id is in the timeline. */
  hasThread(threadId: string): boolean {
    return this.history.some((m) => m.kind === 'thread' && m.threadId === threadId);
  }

  /** The run a message's stop button stands for now (edits may have taken it away). */
  stopRunOf(id: number): string | undefined {
    let runId: string | undefined;
    for (const m of this.history) {
      if (m.kind === 'bot' && m.id === id) runId = m.stopRunId;
      if (m.kind === 'edit' && m.target === id) runId = m.stopRunId;
    }
    return runId;
  }

  /** Messages after `afterId`, oldest first. */
  messagesAfter(afterId: number): LocalMessage[] {
    return this.history.filter((m) => m.id > afterId);
  }

  /** Calls `listener` with each new message; returns the function that stops it. */
  subscribe(listener: (message: LocalMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async push(draft: NewMessage): Promise<number> {
    const unsaved = { ...draft, time: new Date().toISOString() } as UnsavedMessage;
    const store = this.opts.store;
    const message = store
      ? await store.append(unsaved)
      : ({ ...unsaved, id: this.nextId++ } as LocalMessage);

    // ids come back in the order they were asked for; sort only if one ever did not
    this.history.push(message);
    const previousId = this.history.at(-2)?.id ?? 0;
    if (previousId > message.id) this.history.sort((a, b) => a.id - b.id);
    if (this.history.length > (store?.limit ?? LOCAL_HISTORY_LIMIT)) this.history.shift();
    for (const listener of this.listeners) listener(message);
    return message.id;
  }
}
