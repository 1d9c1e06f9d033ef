/** What a reaction on one of the bot's messages asks for. */
export type ReactionAction =
  { kind: 'sample'; sample: number } | { kind: 'stop' } | { kind: 'redraw' };

/** The keycap emoji of sample numbers 1 to 10, as people react with them. */
export const NUMBER_EMOJIS = ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣', '6️⃣', '7️⃣', '8️⃣', '9️⃣', '🔟'];
export const STOP_EMOJI = '⏹️';
export const REDRAW_EMOJI = '🔁';

// Variation selectors come and go between clients ('⏹' and '⏹️' are the same reaction).
const bare = (emoji: string) => emoji.replace(/\uFE0F/g, '');

/**
 * The action a Unicode reaction stands for, or undefined for any other emoji.
 *
 * @example
 * reactionAction('3️⃣'); // { kind: 'sample', sample: 3 }
 */
export function reactionAction(emoji: string): ReactionAction | undefined {
  const index = NUMBER_EMOJIS.findIndex((e) => bare(e) === bare(emoji));
  if (index >= 0) return { kind: 'sample', sample: index + 1 };
  if (bare(emoji) === bare(STOP_EMOJI)) return { kind: 'stop' };
  if (bare(emoji) === bare(REDRAW_EMOJI)) return { kind: 'redraw' };
  return undefined;
}
