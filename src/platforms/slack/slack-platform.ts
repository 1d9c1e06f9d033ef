import type { WebClient } from '@slack/web-api';
import { slackFormat } from '../../chat/format.ts';
import type { ThreadRef } from '../../chat/platform.ts';
import type { MessageControls, ThreadFile, ThreadPlatform } from '../../chat/thread-platform.ts';
import { NadaError } from '../../errors.ts';

// Uploads are shared into the thread a moment after they complete; wait this long at most.
const SHARE_WAIT_MS = 10_000;
const SHARE_POLL_MS = 250;

/** Action id of the stop button; its value is the run id. */
export const STOP_ACTION_ID = 'nada_stop';

/** Text as sent: no link or mention parsing, no unfurling (user text is escaped already). */
export const PLAIN_TEXT = { parse: 'none', link_names: false, unfurl_links: false } as const;

/**
 * Slack as a threaded platform: a thread is the replies under a channel message
 * (`thread_ts`); images go up with the current upload API (`files.getUploadURLExternal`,
 * then `files.completeUploadExternal`, through `files.uploadV2`). A message id is its `ts`.
 */
export class SlackPlatform implements ThreadPlatform {
  readonly name = 'slack';
  readonly format = slackFormat;

  constructor(
    private readonly client: WebClient,
    readonly maxUploadBytes: number,
  ) {}

  async postText(thread: ThreadRef, text: string, controls?: MessageControls): Promise<string> {
    const res = await this.client.chat.postMessage({
      channel: thread.channelId,
      thread_ts: thread.threadId,
      text,
      blocks: blocks(text, controls),
      ...PLAIN_TEXT,
    });
    return requireTs(res.ts, 'chat.postMessage');
  }

  async editText(
    thread: ThreadRef,
    messageId: string,
    text: string,
    controls?: MessageControls,
  ): Promise<void> {
    await this.client.chat.update({
      channel: thread.channelId,
      ts: messageId,
      text,
      blocks: blocks(text, controls) ?? [],
      ...PLAIN_TEXT,
    });
  }

  async postFiles(thread: ThreadRef, files: ThreadFile[], text: string): Promise<string> {
    const res = await this.client.files.uploadV2({
      channel_id: thread.channelId,
      thread_ts: thread.threadId,
      initial_comment: text,
      file_uploads: files.map((f) => ({ file: f.bytes, filename: f.name, title: f.name })),
    });
    const fileId = firstFileId(res);
    return this.sharedTs(fileId, thread.channelId);
  }

  // The ts of the message that shares the upload in the channel (reactions go on it).
  private async sharedTs(fileId: string, channelId: string): Promise<string> {
    const deadline = Date.now() + SHARE_WAIT_MS;
    for (;;) {
      const info = await this.client.files.info({ file: fileId });
      const shares = info.file?.shares;
      const share = shares?.public?.[channelId]?.[0] ?? shares?.private?.[channelId]?.[0];
      if (share?.ts) return share.ts;
      if (Date.now() > deadline) {
        throw new NadaError(
          'slack.upload_unshared',
          `file ${fileId} was not shared in ${channelId}`,
          {
            fileId,
          },
        );
      }
      await new Promise((r) => setTimeout(r, SHARE_POLL_MS));
    }
  }
}

// A text section and a stop button, when the message has one; else plain text.
function blocks(text: string, controls: MessageControls | undefined) {
  if (!controls?.stopRunId) return undefined;
  return [
    { type: 'section', text: { type: 'mrkdwn', text, verbatim: true } },
    {
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: STOP_ACTION_ID,
          value: controls.stopRunId,
          text: { type: 'plain_text', text: '⏹️ Stop', emoji: true },
        },
      ],
    },
  ];
}

function requireTs(ts: string | undefined, method: string): string {
  if (!ts) throw new NadaError('slack.no_ts', `${method} returned no message ts`, { method });
  return ts;
}

// files.uploadV2 answers with one completion per channel, each listing its files.
function firstFileId(res: unknown): string {
  const completions = (res as { files?: { files?: { id?: string }[] }[] }).files ?? [];
  const id = completions[0]?.files?.[0]?.id;
  if (!id) throw new NadaError('slack.no_file', 'files.uploadV2 returned no file id', {});
  return id;
}
