import type { Config } from '../config.ts';
import { NadaConversation } from '../chat/conversation.ts';
import { assertRedisReachable, createRedis } from '../jobs/connection.ts';
import { openRunEvents } from '../jobs/events.ts';
import { createAdaptQueue } from '../jobs/queue.ts';
import { logger } from '../log.ts';
import { LocalPlatform } from './local/local-platform.ts';
import { buildLocalServer } from './local/server.ts';
import { startPlatformBots } from './platform-bots.ts';

export interface RunningBot {
  /** the local chat's address, when the bot serves one */
  url?: string;
  close(): Promise<void>;
}

/**
 * Starts the bot: checks that Redis answers, opens the queue and its events, and serves the
 * platform the configuration names: Discord and/or Slack when their tokens are set
 * (`platform-bots.ts`), else the local web chat on `NADABOT_HOST:NADABOT_PORT`.
 *
 * @example
 * const bot = await startBot(loadConfig());
 * bot.url; // 'http://127.0.0.1:8787/'
 */
export async function startBot(config: Config): Promise<RunningBot> {
  // a Discord or Slack token: those platforms instead of the local chat
  if (config.discord || config.slack) return startPlatformBots(config);
  await assertRedisReachable(config.redisUrl);

  // queue, events and a plain connection for the thread ↔ run mapping
  const redis = createRedis(config.redisUrl);
  const queue = createAdaptQueue(config.queueName, redis);
  const eventsRedis = createRedis(config.redisUrl);
  const events = await openRunEvents(config.queueName, eventsRedis);

  // the conversation, driven by the local web chat
  const platform = new LocalPlatform();
  const conversation = new NadaConversation({
    platform,
    queue,
    redis,
    events,
    artifactsDir: config.artifactsDir,
    limits: {
      defaultSource: config.training.source,
      defaultSteps: config.training.defaultSteps,
      maxSteps: config.training.maxSteps,
    },
    outputInterval: config.training.outputInterval,
  });
  conversation.start();

  const server = buildLocalServer({ platform, conversation, artifactsDir: config.artifactsDir });
  await server.listen({ host: config.local.host, port: config.local.port });
  const url = localUrl(server.server.address(), config.local.host);
  logger.info({ url, queue: config.queueName }, 'local chat ready');

  return {
    url,
    close: async () => {
      conversation.stop();
      await server.close();
      await events.close();
      await queue.close();
      eventsRedis.disconnect();
      redis.disconnect();
    },
  };
}

function localUrl(address: ReturnType<import('node:net').Server['address']>, host: string) {
  const port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${port}/`;
}
