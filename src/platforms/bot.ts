import type { Config } from '../config.ts';
import { startLocalChat } from './local/local-chat.ts';
import { startPlatformBots } from './platform-bots.ts';

export interface RunningBot {
  /** the local chat's address, when the bot serves one */
  url?: string;
  close(): Promise<void>;
}

/**
 * Starts the bot on the platform the configuration names: Discord and/or Slack when their
 * tokens are set (`platform-bots.ts`), else the local web chat on `NADABOT_HOST:NADABOT_PORT`
 * (`local/local-chat.ts`).
 *
 * @example
 * const bot = await startBot(loadConfig());
 * bot.url; // 'http://127.0.0.1:8787/'
 */
export async function startBot(config: Config): Promise<RunningBot> {
  if (config.discord || config.slack) return startPlatformBots(config);
  const { url, close } = await startLocalChat(config);
  return { url, close };
}
