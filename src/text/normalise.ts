import { NadaError } from '../errors.ts';

/** How a prompt is cleaned before any tokenizer sees it. */
export interface NormaliseOptions {
  /** longest prompt accepted after clean-up, in code points */
  maxChars?: number;
  /** a lone UTF-16 surrogate is replaced by a space (default) or refused */
  loneSurrogates?: 'replace' | 'refuse';
  /** what the text is, for messages: 'prompt' or 'source text' */
  label?: string;
}

/** The cleaned text and what was done to it, in words, for the routing record. */
export interface NormalisedText {
  original: string;
  text: string;
  changes: string[];
}

export const DEFAULT_MAX_PROMPT_CHARS = 300;
// Past this many UTF-16 units the text is refused before any regex runs over it.
const RAW_LIMIT_FACTOR = 20;

const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;
const INVISIBLES = /[\u00AD\u180E\u200B\u2060\uFEFF]/gu;
// ZWJ glues emoji sequences (👩‍🔬); ZWNJ is spelling in Persian and Indic scripts.
// Elsewhere both go: beside a Latin, Greek or Cyrillic letter a ZWNJ only stops a
// ligature, which no tokenizer sees, so "pho\u200Cto" is "photo".
const STRAY_ZWJ =
  /(?<!\p{Extended_Pictographic}\uFE0F?)\u200D|\u200D(?!\p{Extended_Pictographic})/gu;
const STRAY_ZWNJ = /(?<![\p{L}\p{M}])\u200C|\u200C(?![\p{L}\p{M}])/gu;
const LIGATURE_ZWNJ =
  /(?<=[\p{sc=Latn}\p{sc=Grek}\p{sc=Cyrl}])\u200C|\u200C(?=[\p{sc=Latn}\p{sc=Grek}\p{sc=Cyrl}])/gu;
const CONTROL_SPACE = /[\t\n\v\f\r\u0085\u2028\u2029]/gu;
const CONTROLS = /\p{Cc}/gu;
const OTHER_FORMAT = /(?![\u200C\u200D])\p{Cf}/gu;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;

/**
 * Cleans a prompt for the text encoders: lone surrogates, bidi overrides and isolates,
 * zero-width and control characters out; Unicode NFKC; whitespace collapsed. Refuses an
 * empty or over-long result with `prompt.empty` / `prompt.too_long`.
 *
 * @example
 * normalisePrompt('\u202Eｂｒｏｎｚｅ  statue\u200B').text; // 'bronze statue'
 */
export function normalisePrompt(input: string, opts: NormaliseOptions = {}): NormalisedText {
  const maxChars = opts.maxChars ?? DEFAULT_MAX_PROMPT_CHARS;
  const label = opts.label ?? 'prompt';
  const changes: string[] = [];
  refuseHuge(input, maxChars, label);

  // Step 1: lone surrogates (text cut in the middle of a UTF-16 pair) cannot be encoded.
  let text = fixSurrogates(input, opts.loneSurrogates ?? 'replace', label, changes);

  // Step 2: invisible characters that change nothing a model should see.
  text = drop(text, BIDI_CONTROLS, 'bidi override/isolate/mark', changes);
  text = drop(text, INVISIBLES, 'zero-width or soft-hyphen character', changes);
  text = drop(text, STRAY_ZWJ, 'zero-width joiner outside an emoji sequence', changes);
  text = drop(text, STRAY_ZWNJ, 'zero-width non-joiner outside a word', changes);
  text = drop(text, LIGATURE_ZWNJ, 'zero-width non-joiner in Latin, Greek or Cyrillic', changes);
  text = text.replace(CONTROL_SPACE, ' ');
  text = drop(text, CONTROLS, 'control character', changes);
  text = drop(text, OTHER_FORMAT, 'invisible format character', changes);

  // Step 3: compatibility forms (full-width Latin, half-width kana, ligatures) to their plain form.
  const nfkc = text.normalize('NFKC');
  if (nfkc !== text)
    changes.push('Unicode NFKC applied (full-width, half-width or compatibility forms)');
  text = nfkc;

  // Step 4: one space between words.
  const collapsed = text.replace(/\s+/gu, ' ').trim();
  if (collapsed !== text) changes.push('whitespace collapsed');
  return { original: input, text: checkLength(collapsed, maxChars, label), changes };
}

/**
 * The form two normalised texts are compared in, by the chat and by the engine's
 * same-as-source check: spaces collapsed, lower case.
 *
 * @example
 * comparableText(normalisePrompt('Pho\u200Dto ').text) === comparableText('photo'); // true
 */
export function comparableText(text: string): string {
  return text.trim().replace(/\s+/gu, ' ').toLowerCase();
}

function refuseHuge(input: string, maxChars: number, label: string): void {
  if (input.length <= maxChars * RAW_LIMIT_FACTOR) return;
  throw tooLong(label, codePoints(input), maxChars);
}

// UTF-16 units minus one per surrogate pair.
function codePoints(text: string): number {
  return text.length - (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0);
}

function checkLength(text: string, maxChars: number, label: string): string {
  if (text.length === 0) {
    throw new NadaError(
      'prompt.empty',
      `the ${label} is empty once invisible characters and spaces are removed: type some words`,
      { label },
    );
  }
  const chars = codePoints(text);
  if (chars > maxChars) throw tooLong(label, chars, maxChars);
  return text;
}

function tooLong(label: string, chars: number, maxChars: number): NadaError {
  return new NadaError(
    'prompt.too_long',
    `the ${label} is ${chars} characters, at most ${maxChars} are allowed: shorten it`,
    { label, chars, limit: maxChars },
  );
}

function fixSurrogates(
  text: string,
  mode: 'replace' | 'refuse',
  label: string,
  changes: string[],
): string {
  const count = text.match(LONE_SURROGATE)?.length ?? 0;
  if (count === 0) return text;
  if (mode === 'refuse') {
    throw new NadaError(
      'prompt.invalid_text',
      `the ${label} holds ${count} broken character(s) (a lone UTF-16 surrogate): ` +
        'it was cut in the middle of an emoji or rare character; paste it again',
      { label, loneSurrogates: count },
    );
  }
  changes.push(`${count} broken character(s) (lone surrogate) replaced by a space`);
  return text.replace(LONE_SURROGATE, ' ');
}

function drop(text: string, pattern: RegExp, what: string, changes: string[]): string {
  const count = text.match(pattern)?.length ?? 0;
  if (count === 0) return text;
  changes.push(`${count} ${what}${count > 1 ? 's' : ''} removed`);
  return text.replace(pattern, '');
}

/** One character an accent-stripping tokenizer changes, and what it becomes. */
export interface MarkLoss {
  char: string;
  becomes: string;
}

/**
 * What an uncased BERT-style tokenizer (NFD, then every nonspacing mark dropped) does to the
 * text: accents vanish (é → e) and so do kana voicing marks (パ → ハ, ダ → タ).
 *
 * @example
 * markLosses('パンダ'); // [{ char: 'パ', becomes: 'ハ' }, { char: 'ダ', becomes: 'タ' }]
 */
export function markLosses(text: string): MarkLoss[] {
  const seen = new Map<string, string>();
  for (const char of text) {
    if (seen.has(char)) continue;
    const stripped = stripMarks(char);
    if (stripped !== char) seen.set(char, stripped);
  }
  return [...seen].map(([char, becomes]) => ({ char, becomes }));
}

/** NFD, nonspacing marks removed, NFC again: the text an accent-stripping tokenizer reads. */
export function stripMarks(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Mn}/gu, '')
    .normalize('NFC');
}
