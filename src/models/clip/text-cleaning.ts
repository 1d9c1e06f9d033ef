import { decodeHTML, decodeHTMLStrict } from 'entities';

/**
 * The text cleaning OpenAI's CLIP tokenizer runs before BPE: `ftfy.fix_text`, HTML unescape
 * twice, whitespace collapse, lower case. ftfy is a Python library; the fixes below are the
 * ones of its defaults that change prompts people type or paste (entities, mojibake, C1
 * controls, ligatures, full-width forms, curly quotes, line breaks, control characters, NFC).
 * Departures: ftfy decides whether text is mojibake with a statistical "badness" score;
 * here any complete UTF-8 sequence spelled in Windows-1252/Latin-1 characters is decoded.
 * Terminal escapes and lone surrogates are not handled.
 */

/** `basic_clean` + `whitespace_clean` + `lower()` of OpenAI's simple_tokenizer.py. */
export function cleanText(text: string): string {
  let s = fixText(text);
  s = decodeHTML(decodeHTML(s));
  return collapseWhitespace(s).toLowerCase();
}

/**
 * The ftfy fixes, in ftfy's order, repeated until the text stops changing. Like ftfy, HTML
 * entities are decoded here only in lines before the first one that holds a literal '<'.
 */
export function fixText(text: string): string {
  const lines = text.match(/[^\n]*\n|[^\n]+/g) ?? [];
  let html = true;
  return lines
    .map((line) => {
      if (line.includes('<')) html = false;
      return fixLine(line, html);
    })
    .join('');
}

function fixLine(line: string, unescape: boolean): string {
  let s = line;
  for (let pass = 0; pass < 8; pass++) {
    const before = s;
    if (unescape) s = unescapeEntities(s);
    s = fixMojibake(s);
    s = fixC1Controls(s);
    s = fixLatinLigatures(s);
    s = fixCharacterWidth(s);
    s = uncurlQuotes(s);
    s = fixLineBreaks(s);
    s = removeControlChars(s);
    s = s.normalize('NFC');
    if (s === before) break;
  }
  return s;
}

/**
 * ftfy's entity decoding: only complete `&name;` / `&#n;` references, plus all-capital
 * spellings of lower-case entity names (`&EACUTE;` → É).
 */
export function unescapeEntities(text: string): string {
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (ref) => {
    const decoded = decodeHTMLStrict(ref);
    if (decoded !== ref) return decoded.includes(';') ? ref : decoded;
    if (ref.startsWith('&#') || ref !== ref.toUpperCase()) return ref;
    const lower = decodeHTMLStrict(ref.toLowerCase());
    return lower !== ref.toLowerCase() ? lower.toUpperCase() : ref;
  });
}

/** CR LF, CR, U+2028, U+2029 and NEL all become '\n'. */
export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');
}

// The characters Python's str.isspace() accepts (`\s` in a Python str regex).
const PY_SPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const EDGE_SPACE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Runs of whitespace become one space; ends are trimmed (Python's notion of whitespace). */
export function collapseWhitespace(text: string): string {
  return text.replace(SPACE_RUN, ' ').replace(EDGE_SPACE, '');
}

// ---- mojibake: UTF-8 bytes that were decoded as Windows-1252 or Latin-1 ----

// Windows-1252 bytes 0x80–0x9F. The five bytes it leaves undefined decode to the C1
// control of the same number, as ftfy's "sloppy" codec does.
const CP1252_HIGH =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/** Char → the byte it came from, for every char Windows-1252 or Latin-1 can produce. */
const BYTE_OF = (() => {
  const map = new Map<string, number>();
  for (let b = 0; b < 256; b++) map.set(String.fromCharCode(b), b); // Latin-1
  for (let i = 0; i < 32; i++) map.set(CP1252_HIGH[i], 0x80 + i);
  return map;
})();

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes every complete multi-byte UTF-8 sequence found among characters that a
 * Windows-1252 / Latin-1 reading produces ("doesnâ€™t" → "doesn’t"), repeated while that
 * changes something, so text mis-decoded twice is fixed too. Other characters are kept.
 */
export function fixMojibake(text: string): string {
  let s = text;
  for (let pass = 0; pass < 4; pass++) {
    const fixed = decodeSequences(s);
    if (fixed === s) break;
    s = fixed;
  }
  return s;
}

function decodeSequences(text: string): string {
  const chars = [...text];
  const out: string[] = [];
  for (let i = 0; i < chars.length;) {
    const n = sequenceLength(BYTE_OF.get(chars[i]));
    const decoded = n > 1 ? tryDecode(chars.slice(i, i + n), n) : null;
    if (decoded !== null) {
      out.push(decoded);
      i += n;
    } else {
      out.push(chars[i]);
      i += 1;
    }
  }
  return out.join('');
}

// Length of the UTF-8 sequence a lead byte starts; 0 for anything that is not a lead byte.
function sequenceLength(byte: number | undefined): number {
  if (byte === undefined) return 0;
  if (byte >= 0xc2 && byte <= 0xdf) return 2;
  if (byte >= 0xe0 && byte <= 0xef) return 3;
  if (byte >= 0xf0 && byte <= 0xf4) return 4;
  return 0;
}

function tryDecode(chars: string[], n: number): string | null {
  const bytes = chars.map((c) => BYTE_OF.get(c) ?? -1);
  if (bytes.length < n) return null;
  if (bytes.slice(1).some((b) => b < 0x80 || b > 0xbf)) return null; // not continuation bytes
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return null; // overlong, surrogate or out-of-range sequence
  }
}

// ---- the character-level fixes ----

/** C1 control characters (U+0080–U+009F) are Windows-1252 bytes read as Latin-1. */
export function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]);
}

// Latin ligatures that compatibility normalisation splits into letters (ﬁ → fi, ĳ → ij).
const LIGATURES = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

/** ﬁ → fi and the other Latin ligatures, by their NFKC decomposition. */
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURES, (c) => c.normalize('NFKC'));
}

/** Full-width and half-width forms (Ｆ → F, ｱ → ア) and the ideographic space → ' '. */
export function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (c) =>
    c === '\u3000' ? ' ' : c.normalize('NFKC'),
  );
}

/** Curly single and double quotes (and the modifier-letter apostrophe) → ' and ". */
export function uncurlQuotes(text: string): string {
  return text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
}

// C0 controls other than tab/newline/form feed/carriage return, DEL, deprecated format
// characters, the byte-order mark and interlinear annotation marks.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/** Drops control characters that carry no text. */
export function removeControlChars(text: string): string {
  return text.replace(CONTROL, '');
}
