import { markdownFormat } from '../../chat/format.ts';
import type { ChatPlatform, ImageRef, ThreadRef } from '../../chat/platform.ts';

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

type NewMessage = LocalMessage extends infer M
  ? M extends LocalMessage
    ? Omit<M, 'id' | 'time'>
    : never
  : never;

// The page shows the latest messages after a reload; older ones drop out of memory.
const HISTORY_LIMIT = 500;

/** The channel id of the local chat: it has one channel, the page. */
export const LOCAL_CHANNEL = 'local';

/**
 * The local web chat as a chat platform: one channel whose timeline lives in memory and is
 * streamed to every open page. A thread is a titled divider in that timeline; its posts
 * follow it. Text uses the same markdown as Discord, rendered by the page.
 */
export class LocalPlatform implements ChatPlatform {
  readonly name = 'local';
  readonly format = markdownFormat;
  private readonly history: LocalMessage[] = [];
  private readonly listeners = new Set<(message: LocalMessage) => void>();
  private nextId = 1;
  private threadCount = 0;
  /** the thread opened last: where a `/stop` typed on the page applies */
  currentThreadId?: string;

  async openThread(channelId: string, title: string): Promise<ThreadRef> {
    const threadId = `t${++this.threadCount}-${Date.now().toString(36)}`;
    this.currentThreadId = threadId;
    this.push({ kind: 'thread', title, threadId });
    return { channelId, threadId };
  }

  async postText(thread: ThreadRef, text: string): Promise<void> {
    this.push({ kind: 'bot', text, threadId: thread.threadId });
  }

  async postImage(thread: ThreadRef, image: ImageRef, caption: string): Promise<void> {
    const url = '/artifacts/' + image.artifactPath.split('/').map(encodeURIComponent).join('/');
    this.push({ kind: 'image', url, caption, threadId: thread.threadId });
  }

  /** Adds what the person typed to the timeline. */
  addUserMessage(text: string): void {
    this.push({ kind: 'user', text });
  }

  /** Adds a bot message outside any thread (answers to commands). */
  addBotMessage(text: string): void {
    this.push({ kind: 'bot', text });
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

  private push(message: NewMessage): void {
    const full = { ...message, id: this.nextId++, time: new Date().toISOString() } as LocalMessage;
    this.history.push(full);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    for (const listener of this.listeners) listener(full);
  }
}
