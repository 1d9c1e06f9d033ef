import type { Actor } from './access.ts';
import type { ChatFormat, ThreadRef } from './platform.ts';
import type { ReactionAction } from './reactions.ts';

/** A file to post, already within the thread's upload limit. */
export interface ThreadFile {
  bytes: Buffer;
  /** file name with its extension: `step-000004.webp` */
  name: string;
}

/** Buttons under a message: a stop button for a run, where the platform has buttons. */
export interface MessageControls {
  stopRunId?: string;
}

/**
 * What a chat platform adapter (Discord, Slack, the local web chat) gives the conversation.
 * Every call goes through the bot's own credentials, never an interaction token, so a run may
 * post for as long as it lasts.
 */
export interface ThreadPlatform {
  /** short platform id stored with each run: 'discord', 'slack', 'local' */
  readonly name: string;
  readonly format: ChatFormat;
  /** the largest file a thread takes when the command did not say otherwise, bytes */
  readonly maxUploadBytes: number;
  /** posts text (mentions disabled) with optional buttons; returns the message id */
  postText(thread: ThreadRef, text: string, controls?: MessageControls): Promise<string>;
  /** replaces the text of a message the bot posted; its buttons become `controls` (none: removed) */
  editText(
    thread: ThreadRef,
    messageId: string,
    text: string,
    controls?: MessageControls,
  ): Promise<void>;
  /** posts files under one text; returns the id of the message reactions should go on */
  postFiles(thread: ThreadRef, files: ThreadFile[], text: string): Promise<string>;
}

/** `/nada` as a platform received it. */
export interface CommandEvent extends Actor {
  /** the platform's id of this delivery (interaction id, trigger id): a repeat is ignored */
  eventId: string;
  /** the largest file this channel takes, when the platform says (Discord does) */
  uploadLimitBytes?: number;
  /** the first, public answer; the run's thread opens on it */
  accept(text: string, threadTitle: string): Promise<ThreadRef>;
  /** an answer only the person sees (refusals) */
  refuse(text: string): Promise<void>;
}

/** A message typed in a thread the bot may own. */
export interface ThreadMessageEvent extends Actor {
  eventId: string;
  thread: ThreadRef;
  /** the text with mentions of the bot removed */
  text: string;
}

/** A reaction put on (or taken off) a message, or a button standing for one. */
export interface ReactionEvent extends Actor {
  eventId: string;
  messageId: string;
  action: ReactionAction;
  added: boolean;
  /** the run a button names (buttons carry it; reactions are looked up by message) */
  runId?: string;
  /** an answer only the person sees, where the platform has one (buttons) */
  refuse?(text: string): Promise<void>;
}
