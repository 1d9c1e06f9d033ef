import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The understood-as list shipped with nadabot. */
export const ENGLISH_LIST_PATH = fileURLToPath(
  new URL('../../data/understood-as/en.txt', import.meta.url),
);

// Small words that carry no topic but mark a phrase as English.
const FUNCTION_WORDS = [
  'a',
  'an',
  'the',
  'of',
  'in',
  'on',
  'at',
  'with',
  'without',
  'and',
  'or',
  'by',
  'for',
  'from',
  'to',
  'as',
  'like',
  'into',
  'under',
  'over',
  'made',
  'is',
  'are',
  'very',
  'this',
  'that',
  'his',
  'her',
  'their',
  'its',
  'my',
  'your',
  'our',
  'no',
  'not',
  'style',
  'styled',
  'holding',
  'looking',
];

const cache = new Map<string, string[]>();

/** The entries of an understood-as list: one a line, `#` comments and blank lines skipped. */
export function loadEnglishList(path = ENGLISH_LIST_PATH): string[] {
  let list = cache.get(path);
  if (!list) {
    list = readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !l.startsWith('#'));
    cache.set(path, list);
  }
  return list;
}

/** Every lower-case word of the list plus common function words: nadabot's English lexicon. */
export function englishLexicon(path = ENGLISH_LIST_PATH): Set<string> {
  const words = new Set(FUNCTION_WORDS);
  for (const entry of loadEnglishList(path)) {
    for (const w of entry.toLowerCase().match(/\p{L}[\p{L}\p{M}'’-]*/gu) ?? []) words.add(w);
  }
  return words;
}
