import { OPEN_ACCESS } from '../../src/chat/access.ts';
import {
  ThreadConversation,
  type ThreadConversationOptions,
} from '../../src/chat/thread-conversation.ts';
import { handleTyped } from '../../src/platforms/local/local-events.ts';
import { LocalPlatform, type LocalMessage } from '../../src/platforms/local/local-platform.ts';

/** What a test conversation needs besides its platform, access and quotas. */
export type LocalChatSetup = Pick<
  ThreadConversationOptions,
  'queue' | 'redis' | 'events' | 'artifactsDir' | 'limits' | 'outputInterval'
>;

/** Every channel open, no operators, and no limit on runs or steps. */
export const NO_LIMITS: Pick<ThreadConversationOptions, 'access' | 'quotas'> = {
  access: OPEN_ACCESS,
  quotas: { maxRunsPerUser: 0, maxRunsPerChannel: 0, dailyStepsPerUser: 0 },
};

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
  const chat = new ThreadConversation({ ...s, ...NO_LIMITS, platform });
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
