import { readChatPolicy } from '../../chat/chat-config.ts';
import type { Config } from '../../config.ts';
import { assertRedisReachable, createRedis } from '../../jobs/connection.ts';
import { logger } from '../../log.ts';
import { openChatRuntime, runtimeSettings } from '../chat-runtime.ts';
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
 * Serves the local web chat on `NADABOT_HOST:NADABOT_PORT`: checks that Redis answers,
 * continues the timeline kept in Redis for the queue, and runs the same threaded conversation
 * as Discord and Slack on it, with the operator's limits (`NADABOT_MAX_RUNS_PER_USER`, …).
 *
 * @example
 * const chat = await startLocalChat(loadConfig());
 * chat.url; // 'http://127.0.0.1:8787/'
 */
export async function startLocalChat(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningLocalChat> {
  const policy = readChatPolicy(env);
  await assertRedisReachable(config.redisUrl);

  // the timeline as it was before a restart, and the conversation on it
  const historyRedis = createRedis(config.redisUrl);
  const platform = await LocalPlatform.restore({
    artifactsDir: config.artifactsDir,
    store: new LocalHistory(historyRedis, config.queueName),
  });
  const chat = await openChatRuntime(runtimeSettings(config, policy), platform);
  await chat.start();

  // the page, its events and the artifact store's images
  const server = buildLocalServer({
    platform,
    conversation: chat.conversation,
    maxSteps: config.training.maxSteps,
    artifactsDir: config.artifactsDir,
  });
  await server.listen({ host: config.local.host, port: config.local.port });
  const url = localUrl(server.server.address(), config.local.host);
  logger.info({ url, queue: config.queueName }, 'local chat ready');

  return {
    url,
    platform,
    close: async () => {
      await server.close();
      await chat.close();
      historyRedis.disconnect();
    },
  };
}

function localUrl(address: ReturnType<import('node:net').Server['address']>, host: string) {
  const port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${port}/`;
}
