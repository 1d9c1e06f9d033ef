import { randomUUID } from 'node:crypto';
import {
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Partials,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type GuildMember,
  type Message,
  type MessageReaction,
  type PartialMessageReaction,
  type PartialUser,
  type User,
} from 'discord.js';
import type { NadaArgs } from '../../chat/parse-command.ts';
import { reactionAction } from '../../chat/reactions.ts';
import type { CommandEvent } from '../../chat/thread-platform.ts';
import { logger } from '../../log.ts';
import { openChatRuntime, type ChatRuntime, type ChatRuntimeSettings } from '../chat-runtime.ts';
import type { DiscordSettings } from './discord-config.ts';
import { DiscordPlatform, NO_MENTIONS, STOP_BUTTON_PREFIX } from './discord-platform.ts';

// Discord wants an answer within 3 s; past this the reply is deferred and edited later.
const DEFER_AFTER_MS = 2000;
const THREAD_NAME_MAX = 100;

export interface RunningDiscordBot {
  client: Client;
  close(): Promise<void>;
}

/**
 * Starts the Discord bot: logs in, then turns slash commands, thread replies and reactions
 * into the conversation's calls. Reactions and replies on messages sent before a restart
 * arrive as partials, so they are seen too.
 *
 * @example
 * const bot = await startDiscordBot(readDiscordSettings(), runtimeSettings(config, policy));
 * // logs 'discord bot ready' with the bot's tag
 */
export async function startDiscordBot(
  discord: DiscordSettings,
  runtime: ChatRuntimeSettings,
): Promise<RunningDiscordBot> {
  // Step 1: the client, with what it needs to see reactions and replies on old messages.
  const intents = [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.GuildMessageReactions,
  ];
  if (discord.messageContent) intents.push(GatewayIntentBits.MessageContent);
  else
    logger.warn(
      'Message Content intent is off (DISCORD_MESSAGE_CONTENT): thread replies are read only when they mention the bot',
    );
  const client = new Client({
    intents,
    partials: [Partials.Message, Partials.Channel, Partials.Reaction, Partials.User],
    allowedMentions: NO_MENTIONS,
    rest: discord.apiUrl ? { api: discord.apiUrl } : {},
  });

  // Step 2: the conversation, then the handlers, then the login.
  const platform = new DiscordPlatform(client);
  const chat = await openChatRuntime({ ...runtime, access: withRoles(runtime, discord) }, platform);
  wireHandlers(client, chat);
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(discord.token);
  await ready;
  await chat.start();
  logger.info({ user: client.user?.tag }, 'discord bot ready');

  return {
    client,
    close: async () => {
      await chat.close();
      await client.destroy();
    },
  };
}

function withRoles(runtime: ChatRuntimeSettings, discord: DiscordSettings) {
  return {
    ...runtime.access,
    allowedRoles: discord.allowedRoles,
    operatorRoles: discord.operatorRoles,
  };
}

function wireHandlers(client: Client, chat: ChatRuntime): void {
  const safely =
    <A extends unknown[]>(label: string, handler: (...args: A) => Promise<void>) =>
    (...args: A) =>
      void handler(...args).catch((err: unknown) =>
        logger.error({ err, label }, 'discord handler failed'),
      );

  client.on(
    Events.InteractionCreate,
    safely('interaction', async (interaction) => {
      if (interaction.isButton() && interaction.customId.startsWith(STOP_BUTTON_PREFIX))
        return onStopButton(interaction, chat);
      if (!interaction.isChatInputCommand()) return;
      if (interaction.commandName === 'nada') return onNada(interaction, chat);
      if (interaction.commandName === 'stop') return onStop(interaction, chat);
    }),
  );
  client.on(
    Events.MessageCreate,
    safely('message', (m: Message) => onMessage(m, chat)),
  );
  client.on(
    Events.MessageReactionAdd,
    safely('reaction', (r, u) => onReaction(r, u, true, chat)),
  );
  client.on(
    Events.MessageReactionRemove,
    safely('reaction', (r, u) => onReaction(r, u, false, chat)),
  );
}

// `/nada`: answered at once; the thread opens on that answer.
async function onNada(interaction: ChatInputCommandInteraction, chat: ChatRuntime): Promise<void> {
  const timer = setTimeout(() => {
    if (!interaction.replied && !interaction.deferred)
      void interaction.deferReply().catch(() => {});
  }, DEFER_AFTER_MS);
  const args: NadaArgs = {
    prompt: interaction.options.getString('prompt', true),
    source: interaction.options.getString('source') ?? undefined,
    steps: interaction.options.getInteger('steps') ?? undefined,
    seed: interaction.options.getInteger('seed') ?? undefined,
  };
  try {
    await chat.conversation.handleCommand(args, commandEvent(interaction));
  } finally {
    clearTimeout(timer);
  }
}

function commandEvent(interaction: ChatInputCommandInteraction): CommandEvent {
  const channel = interaction.channel;
  const parentId = channel?.isThread() ? channel.parentId : undefined;
  return {
    eventId: interaction.id,
    userId: interaction.user.id,
    userName:
      interaction.member && 'displayName' in interaction.member
        ? interaction.member.displayName
        : interaction.user.username,
    channelId: parentId ?? interaction.channelId,
    roles: memberRoles(interaction.member),
    uploadLimitBytes: interaction.attachmentSizeLimit,
    accept: async (text, title) => {
      const reply = { content: text, allowedMentions: NO_MENTIONS };
      const message = interaction.deferred
        ? await interaction.editReply(reply)
        : (await interaction.reply({ ...reply, withResponse: true })).resource?.message;
      if (!message) throw new Error('Discord returned no message for the reply');
      // typed inside a thread: the run posts into that thread
      if (channel?.isThread()) return { channelId: parentId ?? channel.id, threadId: channel.id };
      const thread = await message.startThread({ name: threadName(title) });
      return { channelId: interaction.channelId, threadId: thread.id };
    },
    refuse: async (text) => {
      const reply = { content: text, allowedMentions: NO_MENTIONS };
      if (interaction.deferred) await interaction.editReply(reply);
      else await interaction.reply({ ...reply, flags: MessageFlags.Ephemeral });
    },
  };
}

// `/stop` typed in a run's thread.
async function onStop(interaction: ChatInputCommandInteraction, chat: ChatRuntime): Promise<void> {
  const channel = interaction.channel;
  if (!channel?.isThread()) {
    await interaction.reply({
      content: 'Type /stop inside the thread of the run to stop.',
      flags: MessageFlags.Ephemeral,
    });
    return;
  }
  await interaction.reply({ content: 'Asked to stop.', flags: MessageFlags.Ephemeral });
  await chat.conversation.handleThreadMessage({
    eventId: interaction.id,
    thread: { channelId: channel.parentId ?? channel.id, threadId: channel.id },
    text: 'stop',
    userId: interaction.user.id,
    channelId: channel.parentId ?? channel.id,
    roles: memberRoles(interaction.member),
  });
}

// The stop button under a run's queue line: the requester or an operator stops the run.
async function onStopButton(interaction: ButtonInteraction, chat: ChatRuntime): Promise<void> {
  const channel = interaction.channel;
  const parentId = channel?.isThread() ? (channel.parentId ?? channel.id) : interaction.channelId;
  await chat.conversation.handleReaction({
    eventId: interaction.id,
    messageId: interaction.message.id,
    runId: interaction.customId.slice(STOP_BUTTON_PREFIX.length),
    action: { kind: 'stop' },
    added: true,
    userId: interaction.user.id,
    channelId: parentId,
    roles: memberRoles(interaction.member),
    refuse: async (text) => {
      await interaction.reply({
        content: text,
        flags: MessageFlags.Ephemeral,
        allowedMentions: NO_MENTIONS,
      });
    },
  });
  // every interaction is answered; a stop that went through shows in the thread
  if (!interaction.replied) await interaction.deferUpdate();
}

// A reply in a thread: the bot reads it when it has the content (the intent, or a mention).
async function onMessage(message: Message, chat: ChatRuntime): Promise<void> {
  if (message.author.bot || !message.channel.isThread()) return;
  const botId = message.client.user.id;
  const text = message.content.replace(new RegExp(`<@!?${botId}>`, 'g'), '').trim();
  if (text === '') return;
  const parentId = message.channel.parentId ?? message.channel.id;
  await chat.conversation.handleThreadMessage({
    eventId: message.id,
    thread: { channelId: parentId, threadId: message.channel.id },
    text,
    userId: message.author.id,
    userName: message.member?.displayName ?? message.author.username,
    channelId: parentId,
    roles: message.member ? [...message.member.roles.cache.keys()] : undefined,
  });
}

async function onReaction(
  reaction: MessageReaction | PartialMessageReaction,
  user: User | PartialUser,
  added: boolean,
  chat: ChatRuntime,
): Promise<void> {
  if (user.id === reaction.client.user.id) return;
  const action = reactionAction(reaction.emoji.name ?? '');
  if (!action) return;
  const channel = reaction.message.channel;
  const parentId = channel.isThread() ? (channel.parentId ?? channel.id) : channel.id;
  // roles matter only to stop someone else's run (operator roles)
  const member = action.kind === 'stop' ? await memberOf(reaction, user.id) : undefined;
  await chat.conversation.handleReaction({
    // gateway events carry no id and are not redelivered once received
    eventId: randomUUID(),
    messageId: reaction.message.id,
    action,
    added,
    userId: user.id,
    userName: member?.displayName ?? user.username ?? undefined,
    channelId: parentId,
    roles: member ? [...member.roles.cache.keys()] : undefined,
  });
}

async function memberOf(
  reaction: MessageReaction | PartialMessageReaction,
  userId: string,
): Promise<GuildMember | undefined> {
  const guild = reaction.message.guild;
  if (!guild) return undefined;
  return guild.members.cache.get(userId) ?? guild.members.fetch(userId).catch(() => undefined);
}

function memberRoles(member: ChatInputCommandInteraction['member']): string[] | undefined {
  if (!member) return undefined;
  return Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
}

// Thread names show as typed: drop the markdown escapes the chat format added.
function threadName(title: string): string {
  return title.replace(/\\(.)/g, '$1').slice(0, THREAD_NAME_MAX) || 'nada';
}
