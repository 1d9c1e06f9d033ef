import { markdownFormat } from '../../chat/format.ts';
import type { ChatPlatform, ImageRef, ThreadRef } from '../../chat/platform.ts';
import { LOCAL_HISTORY_LIMIT, type LocalHistory, type UnsavedMessage } from './local-history.ts';

/** One entry of the local chat's timeline, as the page receives it. */
export type LocalMessage = {
  id: number;
  time: string;
  threadId?: string;
} & (
  | { kind: 'user'; text: string }
  | { kind: 'bot'; text: string }
  | { kind: 'image'; url: string; caption: string }
  | { kind: 'thread'; title: string }
);

type NewMessage = UnsavedMessage extends infer M
  ? M extends UnsavedMessage
    ? Omit<M, 'time'>
    : never
  : never;

/** The channel id of the local chat: it has one channel, the page. */
export const LOCAL_CHANNEL = 'local';

/**
 * The local web chat as a chat platform: one channel whose timeline is streamed to every
 * open page. A thread is a titled divider in that timeline; its posts follow it. Text uses
 * the same markdown as Discord, rendered by the page.
 *
 * The latest messages are held in memory for the pages; with a `LocalHistory` they are also
 * kept in Redis, which gives the ids, so a restarted bot continues the same timeline
 * (`LocalPlatform.restore`). Without one (tests), ids start at 1 in each process.
 */
export class LocalPlatform implements ChatPlatform {
  readonly name = 'local';
  readonly format = markdownFormat;
  private history: LocalMessage[] = [];
  private readonly listeners = new Set<(message: LocalMessage) => void>();
  private nextId = 1;
  private threadCount = 0;
  /** the thread opened last: where a `/stop` typed on the page applies */
  currentThreadId?: string;

  constructor(private readonly store?: LocalHistory) {}

  /**
   * The local chat on the timeline kept in Redis, with the messages (and the open thread)
   * from before a restart.
   *
   * @example
   * const platform = await LocalPlatform.restore(new LocalHistory(redis, 'nada'));
   * platform.messagesAfter(0).length; // 57, the messages posted before the restart
   */
  static async restore(store: LocalHistory): Promise<LocalPlatform> {
    const platform = new LocalPlatform(store);
    platform.history = await store.load();
    const threads = platform.history.filter((m) => m.kind === 'thread');
    platform.currentThreadId = threads.at(-1)?.threadId;
    return platform;
  }

  async openThread(channelId: string, title: string): Promise<ThreadRef> {
    const threadId = `t${++this.threadCount}-${Date.now().toString(36)}`;
    this.currentThreadId = threadId;
    await this.push({ kind: 'thread', title, threadId });
    return { channelId, threadId };
  }

  async postText(thread: ThreadRef, text: string): Promise<void> {
    await this.push({ kind: 'bot', text, threadId: thread.threadId });
  }

  async postImage(thread: ThreadRef, image: ImageRef, caption: string): Promise<void> {
    const url = '/artifacts/' + image.artifactPath.split('/').map(encodeURIComponent).join('/');
    await this.push({ kind: 'image', url, caption, threadId: thread.threadId });
  }

  /** Adds what the person typed to the timeline. */
  async addUserMessage(text: string): Promise<void> {
    await this.push({ kind: 'user', text });
  }

  /** Adds a bot message outside any thread (answers to commands). */
  async addBotMessage(text: string): Promise<void> {
    await this.push({ kind: 'bot', text });
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

  private async push(draft: NewMessage): Promise<void> {
    const unsaved = { ...draft, time: new Date().toISOString() } as UnsavedMessage;
    const message = this.store
      ? await this.store.append(unsaved)
      : ({ ...unsaved, id: this.nextId++ } as LocalMessage);

    // ids come back in the order they were asked for; sort only if one ever did not
    this.history.push(message);
    const previousId = this.history.at(-2)?.id ?? 0;
    if (previousId > message.id) this.history.sort((a, b) => a.id - b.id);
    if (this.history.length > (this.store?.limit ?? LOCAL_HISTORY_LIMIT)) this.history.shift();
    for (const listener of this.listeners) listener(message);
  }
}
