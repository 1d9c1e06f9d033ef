/** A thread (or the channel itself, where a platform has no threads) that posts go to. */
export interface ThreadRef {
  channelId: string;
  threadId: string;
}

/** How a platform marks up text. Everything a person typed goes through `escape` first. */
export interface ChatFormat {
  /** makes user text inert: no markup, no mentions, no links that ping anyone */
  escape(text: string): string;
  bold(escapedText: string): string;
  code(text: string): string;
}
