import type { Server } from 'node:http';
import { App, LogLevel, type SlackCommandMiddlewareArgs } from '@slack/bolt';
import type { NadaArgs } from '../../chat/parse-command.ts';
import { parseCommandText } from '../../chat/parse-command.ts';
import { NUMBER_EMOJIS, REDRAW_EMOJI, STOP_EMOJI, reactionAction } from '../../chat/reactions.ts';
import * as messages from '../../chat/messages.ts';
import { slackFormat } from '../../chat/format.ts';
import { logger } from '../../log.ts';
import { openChatRuntime, type ChatRuntime, type ChatRuntimeSettings } from '../chat-runtime.ts';
import type { SlackSettings } from './slack-config.ts';
import { PLAIN_TEXT, SlackPlatform, STOP_ACTION_ID } from './slack-platform.ts';

// Slack names reactions by their short names.
const REACTION_NAMES: Record<string, string> = {
  ...Object.fromEntries(
    ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'keycap_ten'].map(
      (name, i) => [name, NUMBER_EMOJIS[i]],
    ),
  ),
  black_square_for_stop: STOP_EMOJI,
  repeat: REDRAW_EMOJI,
};

export interface RunningSlackBot {
  app: App;
  /** the HTTP server in HTTP mode (its port is where Slack's requests go) */
  server?: Server;
  close(): Promise<void>;
}

/**
 * Starts the Slack bot in Socket Mode (with `SLACK_APP_TOKEN`) or HTTP mode: `/nada`, thread
 * replies and reactions become the conversation's calls. A redelivered event (same
 * `event_id`, with `X-Slack-Retry-Num`) or a repeated command (same `trigger_id`) is ignored.
 *
 * @example
 * const bot = await startSlackBot(readSlackSettings(), runtimeSettings(config, policy));
 * // logs 'slack bot ready' with the mode and, in HTTP mode, the port
 */
export async function startSlackBot(
  slack: SlackSettings,
  runtime: ChatRuntimeSettings,
): Promise<RunningSlackBot> {
  // Step 1: the Bolt app, in the mode the settings choose.
  const socketMode = slack.appToken !== undefined;
  const app = new App({
    token: slack.botToken,
    signingSecret: slack.signingSecret,
    socketMode,
    appToken: slack.appToken,
    clientOptions: slack.apiUrl ? { slackApiUrl: slack.apiUrl } : undefined,
    // Socket Mode opens its connection through its own client
    installerOptions: slack.apiUrl ? { clientOptions: { slackApiUrl: slack.apiUrl } } : undefined,
    logLevel: LogLevel.WARN,
  });

  // Step 2: the conversation, then the listeners, then the server or socket.
  const platform = new SlackPlatform(app.client, slack.maxUploadBytes);
  const chat = await openChatRuntime(runtime, platform);
  wireListeners(app, chat);
  const started = socketMode ? await app.start() : await app.start({ port: slack.port });
  const server = socketMode ? undefined : (started as Server);
  await chat.start();
  logger.info({ mode: socketMode ? 'socket' : 'http', port: server?.address() }, 'slack bot ready');

  return {
    app,
    server,
    close: async () => {
      await chat.close();
      await app.stop();
    },
  };
}

function wireListeners(app: App, chat: ChatRuntime): void {
  app.command('/nada', async (args) => {
    await args.ack();
    await onNada(args, chat);
  });

  app.event('message', async ({ event, context, body }) => {
    const m = event as {
      subtype?: string;
      bot_id?: string;
      user?: string;
      text?: string;
      ts: string;
      thread_ts?: string;
      channel: string;
    };
    if (m.subtype || m.bot_id || !m.user || !m.thread_ts || m.thread_ts === m.ts) return;
    const botMention = context.botUserId ? new RegExp(`<@${context.botUserId}>`, 'g') : /$^/;
    await chat.conversation.handleThreadMessage({
      eventId: body.event_id,
      thread: { channelId: m.channel, threadId: m.thread_ts },
      text: (m.text ?? '').replace(botMention, '').trim(),
      userId: m.user,
      channelId: m.channel,
    });
  });

  app.action(STOP_ACTION_ID, async ({ ack, body, action, respond }) => {
    await ack();
    const b = body as {
      user: { id: string };
      channel?: { id: string };
      message?: { ts: string };
      trigger_id?: string;
      container?: { message_ts?: string };
    };
    const runId = (action as { value?: string }).value;
    if (!runId || !b.channel) return;
    await chat.conversation.handleReaction({
      eventId: `${b.trigger_id ?? b.message?.ts}`,
      messageId: b.message?.ts ?? b.container?.message_ts ?? '',
      runId,
      action: { kind: 'stop' },
      added: true,
      userId: b.user.id,
      channelId: b.channel.id,
      refuse: async (text) => {
        await respond({ response_type: 'ephemeral', replace_original: false, text });
      },
    });
  });

  for (const added of [true, false]) {
    app.event(added ? 'reaction_added' : 'reaction_removed', async ({ event, context, body }) => {
      if (event.item.type !== 'message' || event.user === context.botUserId) return;
      const emoji = REACTION_NAMES[event.reaction.split('::')[0]];
      const action = emoji ? reactionAction(emoji) : undefined;
      if (!action) return;
      await chat.conversation.handleReaction({
        eventId: body.event_id,
        messageId: event.item.ts,
        action,
        added,
        userId: event.user,
        channelId: event.item.channel,
      });
    });
  }
}

// `/nada <prompt> [--source …] [--steps n] [--seed n]`: Slack gives the options as text.
async function onNada(
  { command, respond, client }: SlackCommandMiddlewareArgs & { client: App['client'] },
  chat: ChatRuntime,
): Promise<void> {
  const refuse = async (text: string) => {
    await respond({ response_type: 'ephemeral', text });
  };
  const parsed = parseCommandText(`/nada ${command.text}`);
  if (parsed.command === 'bad-option') {
    return refuse(messages.badOptionMessage(slackFormat, parsed.option, parsed.reason));
  }
  const args: NadaArgs = parsed.command === 'nada' ? parsed.args : { prompt: '' };
  await chat.conversation.handleCommand(args, {
    eventId: command.trigger_id,
    userId: command.user_id,
    userName: command.user_name,
    channelId: command.channel_id,
    accept: async (text) => {
      const res = await client.chat.postMessage({
        channel: command.channel_id,
        text,
        ...PLAIN_TEXT,
      });
      if (!res.ts) throw new Error('chat.postMessage returned no ts');
      return { channelId: command.channel_id, threadId: res.ts };
    },
    refuse,
  });
}
