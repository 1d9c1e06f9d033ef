import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { OPEN_ACCESS } from '../../src/chat/access.ts';
import { ThreadConversation } from '../../src/chat/thread-conversation.ts';
import type { NadaLimits } from '../../src/chat/validate.ts';
import type { AdaptQueue } from '../../src/jobs/queue.ts';
import { handleTyped } from '../../src/platforms/local/local-events.ts';
import { LocalPlatform, type LocalMessage } from '../../src/platforms/local/local-platform.ts';

export interface LocalChatSetup {
  queue: AdaptQueue;
  redis: Redis;
  events: QueueEvents;
  artifactsDir: string;
  limits: NadaLimits;
  outputInterval: number;
}

/** The local chat's platform and conversation (no limits on runs), without the web server. */
export interface TestLocalChat {
  platform: LocalPlatform;
  chat: ThreadConversation;
  /** types `text` as the person at the page would, in the channel or in `threadId` */
  type(text: string, threadId?: string): Promise<void>;
  /** texts of the bot's messages so far, oldest first */
  botTexts(): string[];
  /** the thread opened last */
  lastThread(): string | undefined;
}

export async function startTestLocalChat(s: LocalChatSetup): Promise<TestLocalChat> {
  const platform = new LocalPlatform({ artifactsDir: s.artifactsDir });
  const chat = new ThreadConversation({
    ...s,
    platform,
    access: OPEN_ACCESS,
    quotas: { maxRunsPerUser: 0, maxRunsPerChannel: 0, dailyStepsPerUser: 0 },
  });
  await chat.start();
  const all = () => platform.messagesAfter(0);
  return {
    platform,
    chat,
    type: (text, threadId) =>
      handleTyped({ platform, conversation: chat, maxSteps: s.limits.maxSteps }, text, threadId),
    botTexts: () => all().flatMap((m: LocalMessage) => (m.kind === 'bot' ? [m.text] : [])),
    lastThread: () =>
      all()
        .filter((m) => m.kind === 'thread')
        .at(-1)?.threadId,
  };
}
