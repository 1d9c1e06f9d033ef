import type { ChatFormat } from './platform.ts';

const ZERO_WIDTH_SPACE = '\u200b';

// Mentions ping people: put a zero-width space after the @ so they show but never notify.
function defuseMentions(text: string): string {
  return text.replace(/@/g, `@${ZERO_WIDTH_SPACE}`);
}

/**
 * Discord-flavoured markdown, also what the local web chat renders: `**bold**`, `` `code` ``,
 * backslash escapes.
 *
 * @example
 * markdownFormat.escape('**hi** @everyone'); // '\\*\\*hi\\*\\* @\u200beveryone'
 */
export const markdownFormat: ChatFormat = {
  escape: (text) => defuseMentions(text.replace(/[\\*_~`|>#<[\]()-]/g, (c) => `\\${c}`)),
  bold: (escaped) => `**${escaped}**`,
  // a code span cannot hold a backtick; a look-alike keeps the text readable
  code: (text) => `\`${defuseMentions(text.replace(/`/g, 'ˋ'))}\``,
};

/**
 * Slack mrkdwn: only `&`, `<` and `>` are special in text (they open links and mentions).
 *
 * @example
 * slackFormat.escape('<!channel> & co'); // '&lt;!channel&gt; &amp; co'
 */
export const slackFormat: ChatFormat = {
  escape: (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
  bold: (escaped) => `*${escaped}*`,
  code: (text) => `\`${slackFormat.escape(text.replace(/`/g, 'ˋ'))}\``,
};
