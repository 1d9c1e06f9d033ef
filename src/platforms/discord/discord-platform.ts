import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  type Client,
  type SendableChannels,
} from 'discord.js';
import { markdownFormat } from '../../chat/format.ts';
import type { ThreadRef } from '../../chat/platform.ts';
import type { MessageControls, ThreadFile, ThreadPlatform } from '../../chat/thread-platform.ts';
import { NadaError } from '../../errors.ts';

/** Discord's upload limit without server boosts; interactions report the real one. */
export const DISCORD_DEFAULT_UPLOAD_BYTES = 10 * 1024 * 1024;

/** Custom id prefix of the stop button: `nada:stop:<runId>`. */
export const STOP_BUTTON_PREFIX = 'nada:stop:';

/** Nothing the bot sends pings anyone, whatever the text holds. */
export const NO_MENTIONS = { parse: [] as [] };

/**
 * Discord as a threaded platform: every post is a channel message sent with the bot token
 * (never the interaction token, which expires after 15 minutes); rate limits are left to
 * discord.js's REST queue.
 */
export class DiscordPlatform implements ThreadPlatform {
  readonly name = 'discord';
  readonly format = markdownFormat;
  readonly maxUploadBytes = DISCORD_DEFAULT_UPLOAD_BYTES;

  constructor(private readonly client: Client) {}

  async postText(thread: ThreadRef, text: string, controls?: MessageControls): Promise<string> {
    const channel = await this.channel(thread);
    const message = await channel.send({
      content: text,
      components: buttons(controls),
      allowedMentions: NO_MENTIONS,
    });
    return message.id;
  }

  async editText(
    thread: ThreadRef,
    messageId: string,
    text: string,
    controls?: MessageControls,
  ): Promise<void> {
    const channel = await this.channel(thread);
    await channel.messages.edit(messageId, {
      content: text,
      components: buttons(controls),
      allowedMentions: NO_MENTIONS,
    });
  }

  async postFiles(thread: ThreadRef, files: ThreadFile[], text: string): Promise<string> {
    const channel = await this.channel(thread);
    const attachments = files.map((f) => new AttachmentBuilder(f.bytes, { name: f.name }));
    const message = await channel.send({
      content: text,
      files: attachments,
      allowedMentions: NO_MENTIONS,
    });
    return message.id;
  }

  private async channel(thread: ThreadRef): Promise<SendableChannels> {
    const channel = await this.client.channels.fetch(thread.threadId);
    if (!channel?.isSendable()) {
      throw new NadaError('discord.no_channel', `thread ${thread.threadId} cannot be posted in`, {
        thread,
      });
    }
    return channel;
  }
}

function buttons(controls: MessageControls | undefined): ActionRowBuilder<ButtonBuilder>[] {
  if (!controls?.stopRunId) return [];
  const stop = new ButtonBuilder()
    .setCustomId(`${STOP_BUTTON_PREFIX}${controls.stopRunId}`)
    .setLabel('Stop')
    .setEmoji('⏹️')
    .setStyle(ButtonStyle.Secondary);
  return [new ActionRowBuilder<ButtonBuilder>().addComponents(stop)];
}
