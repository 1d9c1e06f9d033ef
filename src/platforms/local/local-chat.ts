import type { Config } from '../../config.ts';
import { NadaConversation } from '../../chat/conversation.ts';
import { assertRedisReachable, createRedis } from '../../jobs/connection.ts';
import { openRunEvents } from '../../jobs/events.ts';
import { createAdaptQueue } from '../../jobs/queue.ts';
import { logger } from '../../log.ts';
import { LocalHistory } from './local-history.ts';
import { LocalPlatform } from './local-platform.ts';
import { buildLocalServer } from './server.ts';

export interface RunningLocalChat {
  /** the page's address */
  url: string;
  platform: LocalPlatform;
  close(): Promise<void>;
}

/**
 * Serves the local web chat on `NADABOT_HOST:NADABOT_PORT`: checks that Redis answers, opens
 * the queue and its events, and continues the timeline kept in Redis for the queue.
 *
 * @example
 * const chat = await startLocalChat(loadConfig());
 * chat.url; // 'http://127.0.0.1:8787/'
 */
export async function startLocalChat(config: Config): Promise<RunningLocalChat> {
  await assertRedisReachable(config.redisUrl);

  // queue, events and a plain connection for the timeline and the thread ↔ run mapping
  const redis = createRedis(config.redisUrl);
  const queue = createAdaptQueue(config.queueName, redis);
  const eventsRedis = createRedis(config.redisUrl);
  const events = await openRunEvents(config.queueName, eventsRedis);

  // the conversation, on the timeline as it was before a restart
  const platform = await LocalPlatform.restore(new LocalHistory(redis, config.queueName));
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

  // the page, its events and the artifact store's images
  const server = buildLocalServer({ platform, conversation, artifactsDir: config.artifactsDir });
  await server.listen({ host: config.local.host, port: config.local.port });
  const url = localUrl(server.server.address(), config.local.host);
  logger.info({ url, queue: config.queueName }, 'local chat ready');

  return {
    url,
    platform,
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
