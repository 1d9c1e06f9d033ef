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

/** A preview image from the artifact store. */
export interface ImageRef {
  /** absolute path of the file, for platforms that upload bytes */
  filePath: string;
  /** path relative to the artifact store (`<runId>/grids/step-000004.png`), for linking */
  artifactPath: string;
}

/**
 * What a chat platform adapter (Discord, Slack, the local web chat) gives the conversation.
 * Posts after the first reply go through the bot's own credentials, never an interaction
 * token, because a run outlasts them.
 */
export interface ChatPlatform {
  /** short platform id stored with each run: 'local', 'discord', 'slack' */
  readonly name: string;
  readonly format: ChatFormat;
  /** opens a thread in `channelId` for one command's run; `title` is already escaped */
  openThread(channelId: string, title: string): Promise<ThreadRef>;
  postText(thread: ThreadRef, text: string): Promise<void>;
  postImage(thread: ThreadRef, image: ImageRef, caption: string): Promise<void>;
}

/** Who typed a command, where, and how to answer them at once. */
export interface CommandContext {
  channelId: string;
  userId: string;
  userName?: string;
  /** the immediate answer, where the command was typed (ephemeral where the platform can) */
  respond(text: string): Promise<void>;
}
