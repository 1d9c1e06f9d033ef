// Characters that take no space on screen: format characters (zero-width space, BOM, bidi
// marks) except the joiners, controls other than whitespace, and the blank-looking letters
// people use to fake an empty text (Hangul fillers, braille blank).
// eslint-disable-next-line no-control-regex -- control characters are what it removes
const INVISIBLE = /[\p{Cf}\u0000-\u0008\u000e-\u001f\u007f-\u009f\u115f\u1160\u3164\uffa0\u2800]/gu;
const JOINERS = /[\u200c\u200d]/u;
// Zero-width (non-)joiners matter between two characters (emoji sequences, Persian); at a
// word's edge they only hide.
const STRAY_JOINERS = /(?<!\S)[\u200c\u200d]+|[\u200c\u200d]+(?!\S)/gu;

/** Removes invisible characters and turns any run of whitespace into one space. */
export function cleanText(text: string): string {
  const visible = text.replace(INVISIBLE, (c) => (JOINERS.test(c) ? c : ''));
  return visible.replace(STRAY_JOINERS, '').replace(/\s+/gu, ' ').trim();
}

/**
 * True when `text` has characters other than plain whitespace but none that show (only
 * zero-width spaces and the like). JavaScript's `\s` counts the BOM as whitespace; here it
 * counts as invisible.
 */
export function onlyInvisible(text: string): boolean {
  return /[^\s]|\ufeff/u.test(text) && cleanText(text) === '';
}

/**
 * The form two texts are compared in: cleaned, NFKC (full-width and ligature forms fold to
 * plain letters) and lower case. "Photo", "ｐｈｏｔｏ" and "photo\u200b" all give "photo".
 */
export function comparableText(text: string): string {
  return cleanText(text.normalize('NFKC')).toLowerCase();
}

/** Length in code points, what a person would count (an emoji or a kanji is one). */
export function charCount(text: string): number {
  return [...text].length;
}
