import { randomUUID } from 'node:crypto';
import type { Actor } from '../../chat/access.ts';
import * as messages from '../../chat/messages.ts';
import { parseCommandText } from '../../chat/parse-command.ts';
import { reactionAction, STOP_EMOJI } from '../../chat/reactions.ts';
import type { ThreadConversation } from '../../chat/thread-conversation.ts';
import { LOCAL_CHANNEL, type LocalPlatform } from './local-platform.ts';

/** The one person at the local chat: they started every run there. */
export const LOCAL_USER: Actor = {
  userId: 'local-user',
  userName: 'you',
  channelId: LOCAL_CHANNEL,
};

export interface LocalChatParts {
  platform: LocalPlatform;
  conversation: ThreadConversation;
  /** the largest step count, for `/help` */
  maxSteps: number;
}

/**
 * Something typed on the page: a command for the channel (`/nada`, `/help`), or, with
 * `threadId`, a reply in that run's thread (a number, text to steer by, save, again, stop).
 * The typed text joins the timeline first; the answers follow it.
 */
export async function handleTyped(
  parts: LocalChatParts,
  text: string,
  threadId?: string,
): Promise<void> {
  const { platform, conversation } = parts;
  const f = platform.format;
  const parsed = parseCommandText(text);
  // `/nada` always starts a run in the channel, even when typed while a thread was open
  const where = parsed.command === 'nada' ? undefined : threadId;
  await platform.addUserMessage(text, where);
  const answer = (t: string) => platform.addBotMessage(t, where).then(() => undefined);

  switch (parsed.command) {
    case 'nada':
      return conversation.handleCommand(parsed.args, {
        ...LOCAL_USER,
        eventId: randomUUID(),
        accept: (line, title) => platform.openThread(line, title),
        refuse: answer,
      });
    case 'stop':
    case 'not-a-command':
      if (!threadId) return answer(notInThread(parsed.command, f, parts.maxSteps));
      return conversation.handleThreadMessage({
        ...LOCAL_USER,
        eventId: randomUUID(),
        thread: { channelId: LOCAL_CHANNEL, threadId },
        text: parsed.command === 'stop' ? 'stop' : text,
      });
    case 'bad-option':
      return answer(messages.badOptionMessage(f, parsed.option, parsed.reason));
    case 'unknown':
      return answer(messages.unknownCommandMessage(f, parsed.name));
    default:
      return answer(messages.helpMessage(f, parts.maxSteps));
  }
}

function notInThread(
  command: 'stop' | 'not-a-command',
  f: LocalPlatform['format'],
  maxSteps: number,
): string {
  if (command === 'stop') return messages.stopMessages.notInThread;
  return `${messages.helpMessage(f, maxSteps)}\nTo train a run further, reply inside its thread.`;
}

/** A reaction on the page: `emoji` put on (or taken off) the message `messageId`. */
export async function handleReacted(
  parts: LocalChatParts,
  messageId: number,
  emoji: string,
  added: boolean,
): Promise<void> {
  const action = reactionAction(emoji);
  if (!action) return;
  await parts.platform.addReaction(messageId, emoji, added);
  await parts.conversation.handleReaction({
    ...LOCAL_USER,
    eventId: randomUUID(),
    messageId: String(messageId),
    action,
    added,
  });
}

/** The stop button of a run's queue line. Gives false when the message has no such button. */
export async function handleStopButton(parts: LocalChatParts, messageId: number): Promise<boolean> {
  const runId = parts.platform.stopRunOf(messageId);
  if (!runId) return false;
  const threadId = parts.platform.find(messageId)?.threadId;
  await parts.conversation.handleReaction({
    ...LOCAL_USER,
    eventId: randomUUID(),
    messageId: String(messageId),
    action: reactionAction(STOP_EMOJI)!,
    added: true,
    runId,
    refuse: (t) => parts.platform.addBotMessage(t, threadId).then(() => undefined),
  });
  return true;
}
