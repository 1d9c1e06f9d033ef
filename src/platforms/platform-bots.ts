import { readChatPolicy } from '../chat/chat-config.ts';
import type { Config } from '../config.ts';
import { assertRedisReachable } from '../jobs/connection.ts';
import { runtimeSettings } from './chat-runtime.ts';
import { startDiscordBot } from './discord/discord-bot.ts';
import { readDiscordSettings } from './discord/discord-config.ts';
import { startSlackBot } from './slack/slack-bot.ts';
import { readSlackSettings } from './slack/slack-config.ts';

/**
 * Starts the Discord bot when `DISCORD_TOKEN` is set and the Slack bot when
 * `SLACK_BOT_TOKEN` is, on one Redis. Every platform variable is checked first, so a missing
 * one stops start-up (naming it and where to find it) before Redis is touched.
 *
 * @example
 * const bots = await startPlatformBots(loadConfig());
 * // logs 'discord bot ready' and/or 'slack bot ready'
 */
export async function startPlatformBots(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ close(): Promise<void> }> {
  // Step 1: every setting, before anything starts.
  const discord = config.discord ? readDiscordSettings(env) : undefined;
  const slack = config.slack ? readSlackSettings(env) : undefined;
  const policy = readChatPolicy(env);
  await assertRedisReachable(config.redisUrl);

  // Step 2: the bots, each with its own conversation on the shared queue.
  const runtime = runtimeSettings(config, policy);
  const running: { close(): Promise<void> }[] = [];
  if (discord) running.push(await startDiscordBot(discord, runtime));
  if (slack) running.push(await startSlackBot(slack, runtime));
  return {
    close: async () => {
      for (const bot of running) await bot.close();
    },
  };
}
