import { z } from 'zod';
import { readEnv } from '../../chat/chat-config.ts';

const idList = z
  .string()
  .regex(/^\d+(,\s*\d+)*$/, 'must be Discord ids (digits) separated by commas')
  .transform((s) => s.split(',').map((x) => x.trim()));

/** Discord's variables, each with where its value comes from. */
export const discordVariables = {
  DISCORD_TOKEN: {
    schema: z.string().min(50, 'is too short for a bot token'),
    where: 'the bot token: Discord Developer Portal → your application → Bot → Reset Token',
  },
  DISCORD_APP_ID: {
    schema: z.string().regex(/^\d+$/, 'must be digits'),
    where: 'Discord Developer Portal → your application → General Information → Application ID',
  },
  DISCORD_GUILD_ID: {
    schema: z.string().regex(/^\d+$/, 'must be digits').optional(),
    where:
      'a test server id, to register commands there at once (right-click the server → Copy Server ID); unset registers them globally',
  },
  DISCORD_MESSAGE_CONTENT: {
    schema: z
      .enum(['true', 'false'])
      .default('false')
      .transform((s) => s === 'true'),
    where:
      'true once Message Content Intent is on (Developer Portal → Bot → Privileged Gateway Intents); without it the bot reads only replies that mention it',
  },
  DISCORD_ALLOWED_ROLES: {
    schema: idList.optional(),
    where: 'role ids allowed to start runs (Server Settings → Roles → ⋯ → Copy Role ID)',
  },
  DISCORD_OPERATOR_ROLES: {
    schema: idList.optional(),
    where: 'role ids whose members may stop anyone’s run',
  },
  DISCORD_API_URL: {
    schema: z.url().optional(),
    where: 'only for a proxy or a test server: the REST base, e.g. http://127.0.0.1:8080/api',
  },
};

/** Discord's settings, checked at start-up. */
export interface DiscordSettings {
  token: string;
  appId: string;
  guildId?: string;
  messageContent: boolean;
  allowedRoles: string[];
  operatorRoles: string[];
  apiUrl?: string;
}

/**
 * Reads Discord's settings from the environment; a missing or bad variable stops start-up
 * with its name and where to find the value.
 */
export function readDiscordSettings(env: NodeJS.ProcessEnv = process.env): DiscordSettings {
  const e = readEnv(discordVariables, env);
  return {
    token: e.DISCORD_TOKEN,
    appId: e.DISCORD_APP_ID,
    guildId: e.DISCORD_GUILD_ID,
    messageContent: e.DISCORD_MESSAGE_CONTENT,
    allowedRoles: e.DISCORD_ALLOWED_ROLES ?? [],
    operatorRoles: e.DISCORD_OPERATOR_ROLES ?? [],
    apiUrl: e.DISCORD_API_URL,
  };
}
