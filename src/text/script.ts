/** Writing systems nadabot tells apart (Unicode Script property values). */
export const SCRIPTS = [
  'Latin',
  'Han',
  'Hiragana',
  'Katakana',
  'Hangul',
  'Cyrillic',
  'Greek',
  'Arabic',
  'Hebrew',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Khmer',
  'Myanmar',
  'Tibetan',
  'Georgian',
  'Armenian',
  'Ethiopic',
] as const;

export type Script = (typeof SCRIPTS)[number] | 'Other';

/** Which scripts a text is written in, counted over its letters. */
export interface ScriptProfile {
  /** letters per script, most used first */
  counts: Partial<Record<Script, number>>;
  /** the script of most letters; 'None' for text without letters (emoji, digits, punctuation) */
  dominant: Script | 'None';
  letters: number;
  /** pictographic symbols (emoji) */
  emoji: number;
  /** letters from more than one script, not counting Han + kana, which is ordinary Japanese */
  mixed: boolean;
}

const PATTERNS: [Script, RegExp][] = SCRIPTS.map((s) => [s, new RegExp(`^\\p{Script=${s}}$`, 'u')]);
const LETTER = /^\p{L}$/u;
const EMOJI = /^\p{Extended_Pictographic}$/u;

/**
 * Counts the letters of each script with the Unicode Script property.
 *
 * @example
 * detectScripts('日本人女性').dominant; // 'Han'
 * detectScripts('ブロンズ像').counts;   // { Katakana: 4, Han: 1 }
 */
export function detectScripts(text: string): ScriptProfile {
  const counts: Partial<Record<Script, number>> = {};
  let letters = 0;
  let emoji = 0;
  for (const ch of text) {
    if (EMOJI.test(ch)) emoji++;
    if (!LETTER.test(ch)) continue;
    letters++;
    const script = PATTERNS.find(([, re]) => re.test(ch))?.[0] ?? 'Other';
    counts[script] = (counts[script] ?? 0) + 1;
  }
  const sorted = Object.entries(counts).sort((a, b) => b[1] - a[1]) as [Script, number][];
  const names = sorted.map(([s]) => s);
  const japanese = names.every((s) => s === 'Han' || s === 'Hiragana' || s === 'Katakana');
  return {
    counts: Object.fromEntries(sorted),
    dominant: sorted[0]?.[0] ?? 'None',
    letters,
    emoji,
    mixed: names.length > 1 && !japanese,
  };
}

/** The scripts present, most used first. */
export function scriptsOf(profile: ScriptProfile): Script[] {
  return Object.keys(profile.counts) as Script[];
}
