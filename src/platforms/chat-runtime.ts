import type { Config } from '../config.ts';
import type { AccessPolicy } from '../chat/access.ts';
import type { QuotaLimits } from '../chat/quotas.ts';
import { ThreadConversation } from '../chat/thread-conversation.ts';
import type { ThreadPlatform } from '../chat/thread-platform.ts';
import type { NadaLimits } from '../chat/validate.ts';
import { createRedis } from '../jobs/connection.ts';
import { openRunEvents } from '../jobs/events.ts';
import { createAdaptQueue } from '../jobs/queue.ts';

/** What a threaded platform's bot needs besides its own credentials. */
export interface ChatRuntimeSettings {
  redisUrl: string;
  queueName: string;
  artifactsDir: string;
  limits: NadaLimits;
  outputInterval: number;
  access: AccessPolicy;
  quotas: QuotaLimits;
}

export interface ChatRuntime {
  conversation: ThreadConversation;
  /** starts posting (after catching up); call once the platform client can post */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The runtime settings from nadabot's configuration and the operator's chat policy. */
export function runtimeSettings(
  config: Config,
  policy: { access: AccessPolicy; quotas: QuotaLimits },
): ChatRuntimeSettings {
  return {
    redisUrl: config.redisUrl,
    queueName: config.queueName,
    artifactsDir: config.artifactsDir,
    limits: {
      defaultSource: config.training.source,
      defaultSteps: config.training.defaultSteps,
      maxSteps: config.training.maxSteps,
    },
    outputInterval: config.training.outputInterval,
    ...policy,
  };
}

/**
 * Opens the queue, its events and a Redis connection, and the conversation for `platform`.
 * `start()` then catches up on runs that went on while no bot listened and posts from there.
 */
export async function openChatRuntime(
  s: ChatRuntimeSettings,
  platform: ThreadPlatform,
): Promise<ChatRuntime> {
  const redis = createRedis(s.redisUrl);
  const queue = createAdaptQueue(s.queueName, redis);
  const eventsRedis = createRedis(s.redisUrl);
  const events = await openRunEvents(s.queueName, eventsRedis);
  const conversation = new ThreadConversation({ platform, queue, redis, events, ...s });
  return {
    conversation,
    start: () => conversation.start(),
    close: async () => {
      await conversation.stop();
      await events.close();
      await queue.close();
      eventsRedis.disconnect();
      redis.disconnect();
    },
  };
}
