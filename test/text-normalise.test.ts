import { describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import {
  defaultSourceText,
  detectScripts,
  englishLexicon,
  guessLanguage,
  loadEnglishList,
  markLosses,
  normalisePrompt,
  stripMarks,
} from '../src/text/index.ts';

function errorOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (isNadaError(err)) return err;
    throw err;
  }
  throw new Error('expected a NadaError');
}

describe('normalisePrompt', () => {
  it.each([
    ['full-width Latin and a bidi override', '\u202Eｂｒｏｎｚｅ  statue', 'bronze statue'],
    ['half-width katakana', 'ﾌﾞﾛﾝｽﾞ像', 'ブロンズ像'],
    ['zero-width space and BOM', 'bron\u200Bze\uFEFF statue', 'bronze statue'],
    ['bidi isolates around Arabic', '\u2067تمثال برونزي\u2069', 'تمثال برونزي'],
    ['control characters and newlines', 'a\u0007\nphoto\t of\r\na dog', 'a photo of a dog'],
    ['an ideographic space', '日本人\u3000女性', '日本人 女性'],
    ['a ligature', 'ﬁne art', 'fine art'],
  ])('cleans %s', (_, input, want) => {
    expect(normalisePrompt(input).text).toBe(want);
  });

  it('keeps a zero-width joiner inside an emoji sequence and a ZWNJ inside a Persian word', () => {
    expect(normalisePrompt('👩\u200D🔬 scientist').text).toBe('👩\u200D🔬 scientist');
    expect(normalisePrompt('می\u200Cخواهم').text).toBe('می\u200Cخواهم');
    expect(normalisePrompt('a\u200Db').text).toBe('ab');
  });

  it('GIVEN a ZWNJ inside a Latin, Greek or Cyrillic word ("pho\u200Cto") THEN it goes', () => {
    for (const word of ['pho\u200Cto', 'φω\u200Cτο', 'фо\u200Cто']) {
      expect(normalisePrompt(word).text).toBe(word.replace('\u200C', ''));
    }
    expect(normalisePrompt('pho\u200Cto').changes).toEqual([
      '1 zero-width non-joiner in Latin, Greek or Cyrillic removed',
    ]);
    // Devanagari: after a virama it picks the half form, which is spelling
    expect(normalisePrompt('क्\u200Cष').text).toBe('क्\u200Cष');
  });

  it('records every change in words for the routing record', () => {
    const r = normalisePrompt('\u202Eｂｒｏｎｚｅ\u200B');
    expect(r.changes).toEqual([
      '1 bidi override/isolate/mark removed',
      '1 zero-width or soft-hyphen character removed',
      'Unicode NFKC applied (full-width, half-width or compatibility forms)',
    ]);
    expect(r.original).toBe('\u202Eｂｒｏｎｚｅ\u200B');
  });

  it('replaces a lone surrogate by default and refuses it when asked', () => {
    const r = normalisePrompt('bronze\uD83Dstatue');
    expect(r.text).toBe('bronze statue');
    expect(r.changes[0]).toMatch(/lone surrogate/);
    const err = errorOf(() => normalisePrompt('bronze\uDE00', { loneSurrogates: 'refuse' }));
    expect(err.code).toBe('prompt.invalid_text');
  });

  it('refuses an empty prompt and a 10,000-character one with the numbers', () => {
    expect(errorOf(() => normalisePrompt(' \u200B\u202E\n ')).code).toBe('prompt.empty');
    const long = errorOf(() => normalisePrompt('a'.repeat(10_000)));
    expect(long.code).toBe('prompt.too_long');
    expect(long.context).toMatchObject({ chars: 10_000, limit: 300 });
    expect(long.message).toContain('10000 characters, at most 300');
    const justOver = errorOf(() => normalisePrompt('あ'.repeat(301)));
    expect(justOver.context).toMatchObject({ chars: 301, limit: 300 });
    expect(normalisePrompt('😀'.repeat(300)).text).toHaveLength(600); // code points, not UTF-16 units
  });
});

describe('accent and voicing-mark stripping', () => {
  it('shows what an uncased BERT tokenizer does to kana and accents', () => {
    expect(stripMarks('パンダ')).toBe('ハンタ');
    expect(markLosses('パンダ café')).toEqual([
      { char: 'パ', becomes: 'ハ' },
      { char: 'ダ', becomes: 'タ' },
      { char: 'é', becomes: 'e' },
    ]);
    expect(markLosses('bronze statue 铜像')).toEqual([]);
  });
});

describe('script and language', () => {
  const english = englishLexicon();
  const lang = (t: string) => guessLanguage(t, detectScripts(t), english);

  it.each([
    ['日本人女性', 'Han', 'zh'],
    ['ブロンズ像', 'Katakana', 'ja'],
    ['청동상', 'Hangul', 'ko'],
    ['женщина', 'Cyrillic', 'ru'],
    ['铜像', 'Han', 'zh'],
    ['bronze statue', 'Latin', 'en'],
    ['a photo of a smiling Japanese woman', 'Latin', 'en'],
    ['Frau mit Hut', 'Latin', 'de'],
    ['Skizze', 'Latin', 'und'],
    ['🗿🗿', 'None', 'zxx'],
    ['تمثال برونزي', 'Arabic', 'ar'],
  ])('%s → %s script, language %s', (text, script, code) => {
    expect(detectScripts(text).dominant).toBe(script);
    expect(lang(text).code).toBe(code);
  });

  it('reads Han alone as Chinese or Japanese, and Latin around Han as mixed', () => {
    expect(lang('日本人女性').alternatives).toEqual(['ja']);
    const mixed = detectScripts('a 日本人 woman');
    expect(mixed.mixed).toBe(true);
    expect(lang('a 日本人 woman').code).toBe('zh');
    expect(detectScripts('ブロンズ像').mixed).toBe(false); // kana + kanji is plain Japanese
  });

  it('tells English, not English and unsure apart for Latin text', () => {
    expect(lang('bronze statue').english).toBe('yes');
    expect(lang('Skizze')).toMatchObject({ code: 'und', english: 'no' });
    expect(lang('Mona Lisa')).toMatchObject({ code: 'und', english: 'unsure' });
    expect(lang('🗿').english).toBe('yes'); // no words: CLIP's own encoder is as good as any
    expect(lang('청동상').english).toBe('no');
  });
});

describe('the shipped English list', () => {
  it('has a few thousand distinct, non-empty entries', () => {
    const list = loadEnglishList();
    expect(list.length).toBeGreaterThan(2500);
    expect(new Set(list.map((x) => x.toLowerCase())).size).toBe(list.length);
    expect(list.every((x) => x.trim() === x && x.length > 0 && !x.startsWith('#'))).toBe(true);
    for (const must of ['bronze statue', 'sketch', 'Japanese woman', 'photo', 'ukiyo-e']) {
      expect(list).toContain(must);
    }
  });
});

describe('the default source text', () => {
  it('follows the base model: photo for faces, the animal or scene otherwise', () => {
    expect(defaultSourceText('ffhq-1024')).toBe('photo');
    expect(defaultSourceText('afhqdog-512')).toBe('dog');
    expect(defaultSourceText('lsun-church-256')).toBe('church');
    expect(defaultSourceText('something-new')).toBe('photo');
    expect(defaultSourceText('ffhq', '写真')).toBe('写真'); // model.json's own source wins
  });
});
