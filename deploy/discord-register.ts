/**
 * Registers nadabot's slash commands with Discord: in one server (`DISCORD_GUILD_ID`, shown
 * at once, for development) or globally (every server the bot is in; Discord may take a
 * while to show changes).
 *
 *   npx tsx deploy/discord-register.ts            # DISCORD_GUILD_ID set: that server
 *   npx tsx deploy/discord-register.ts --global   # every server
 */
import { REST, Routes, type RESTPutAPIApplicationCommandsJSONBody } from 'discord.js';
import { commands, type CommandDefinition, type CommandOption } from '../commands/index.ts';
import { readDiscordSettings } from '../src/platforms/discord/discord-config.ts';

// Discord's option types: STRING 3, INTEGER 4.
const OPTION_TYPES = { string: 3, integer: 4 } as const;

/** A command definition in the shape Discord's API takes. */
export function toDiscordCommand(c: CommandDefinition) {
  return {
    name: c.name,
    description: c.description,
    type: 1,
    options: c.options.map((o: CommandOption) => ({
      name: o.name,
      description: o.description,
      type: OPTION_TYPES[o.type],
      required: o.required,
      ...(o.minValue !== undefined && { min_value: o.minValue }),
      ...(o.maxValue !== undefined && { max_value: o.maxValue }),
      ...(o.maxLength !== undefined && { max_length: o.maxLength }),
    })),
  };
}

/**
 * Puts every command (replacing what was registered before) and returns how many Discord
 * now has; `guildId` registers in that server only.
 */
export async function registerDiscordCommands(opts: {
  token: string;
  appId: string;
  guildId?: string;
  apiUrl?: string;
}): Promise<number> {
  const rest = new REST(opts.apiUrl ? { api: opts.apiUrl } : {}).setToken(opts.token);
  const route = opts.guildId
    ? Routes.applicationGuildCommands(opts.appId, opts.guildId)
    : Routes.applicationCommands(opts.appId);
  const body: RESTPutAPIApplicationCommandsJSONBody = commands.map(toDiscordCommand);
  const registered = (await rest.put(route, { body })) as unknown[];
  return registered.length;
}

async function main(): Promise<void> {
  const settings = readDiscordSettings();
  const global = process.argv.includes('--global');
  const guildId = global ? undefined : settings.guildId;
  if (!global && !guildId) {
    throw new Error(
      'set DISCORD_GUILD_ID to register in a test server, or pass --global for every server',
    );
  }
  const count = await registerDiscordCommands({ ...settings, guildId });
  console.log(`registered ${count} commands ${guildId ? `in server ${guildId}` : 'globally'}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
