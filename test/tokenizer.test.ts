import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../src/errors.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { ClipTokenizer, EOT_TOKEN, SOT_TOKEN, cleanText } from '../src/models/clip/index.ts';
import {
  fixCharacterWidth,
  fixLatinLigatures,
  fixMojibake,
  fixText,
  uncurlQuotes,
} from '../src/models/clip/text-cleaning.ts';
import { golden, goldenPath } from './helpers/golden.ts';

interface GoldenRecord {
  text: string;
  cleaned: string;
  ftfy_changed_text: boolean;
  cleaned_without_ftfy?: string;
  bpe_ids: number[];
  decoded: string;
  n_tokens_with_sot_eot: number;
  tokenize_error: string | null;
  tokenize_truncate_ids: number[];
}

const records: GoldenRecord[] = JSON.parse(
  readFileSync(goldenPath('clip/tokenizer_golden.json'), 'utf8'),
).records;

let tok: ClipTokenizer;

beforeAll(async () => {
  await selectBackend();
  tok = ClipTokenizer.load();
});

describe('GIVEN the 28 strings the official tokenizer was run on', () => {
  it.each(records.map((r, i) => [i, r.text.slice(0, 40), r] as const))(
    'string %i (%s) cleans, encodes and decodes as OpenAI',
    (_i, _label, r) => {
      expect(cleanText(r.text)).toBe(r.cleaned);
      expect(tok.encode(r.text)).toEqual(r.bpe_ids);
      expect(tok.decode(r.bpe_ids)).toBe(r.decoded);
      expect(tok.countTokens(r.text)).toBe(r.n_tokens_with_sot_eot);
    },
  );

  it('THEN tokenize(truncate) gives the golden int32 [28, 77] tokens', () => {
    const tokens = tok.tokenize(
      records.map((r) => r.text),
      { truncate: true },
    );
    expect(tokens.dtype).toBe('int32');
    expect(tokens.shape).toEqual([28, 77]);
    const expected = golden('clip/golden.safetensors', 'tokens');
    expect([...tokens.dataSync()]).toEqual([...expected.dataSync()]);
    expect([...tokens.dataSync()]).toEqual(records.flatMap((r) => r.tokenize_truncate_ids));
    tf.dispose([tokens, expected]);
  });
});

describe('WHEN a text is longer than the context', () => {
  const long = records.find((r) => r.tokenize_error !== null)!;

  it('THEN tokenize without truncate fails naming the count and the limit', () => {
    let caught: unknown;
    try {
      tok.tokenize(['photo', long.text]);
    } catch (err) {
      caught = err;
    }
    expect(isNadaError(caught, 'text.too_long')).toBe(true);
    expect((caught as Error).message).toMatch(/102 tokens.*at most 77/);
    expect((caught as { context: object }).context).toMatchObject({ tokens: 102, limit: 77 });
  });

  it('THEN truncate keeps the first 77 ids and ends with EOT', () => {
    const tokens = tok.tokenize([long.text], { truncate: true });
    const ids = [...tokens.dataSync()];
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(SOT_TOKEN);
    expect(ids[76]).toBe(EOT_TOKEN);
    expect(ids.slice(1, 76)).toEqual(tok.encode(long.text).slice(0, 75));
    tokens.dispose();
  });

  it('THEN a shorter context applies the same rule', () => {
    expect(() => tok.tokenize(['a photo of a dog.'], { contextLength: 7 })).toThrow(
      /8 tokens.*at most 7/,
    );
    const t = tok.tokenize(['a photo of a dog.'], { contextLength: 7, truncate: true });
    expect([...t.dataSync()]).toEqual([SOT_TOKEN, 320, 1125, 539, 320, 1929, EOT_TOKEN]);
    t.dispose();
  });
});

describe('ftfy-style fixes (general, beyond the golden strings)', () => {
  it('undoes UTF-8 read as Windows-1252, once or twice', () => {
    expect(fixMojibake('cafÃ©')).toBe('café');
    expect(fixMojibake('â€œquotedâ€\u009d')).toBe('\u201cquoted\u201d');
    expect(fixMojibake('Ã¢â‚¬â€œ')).toBe('\u2013'); // en dash, mis-decoded twice
    expect(fixMojibake('æ—¥æœ¬')).toBe('日本');
  });

  it('leaves real Latin-1 text alone', () => {
    for (const text of ['café naïve résumé Ångström', 'Grüße, Bärenstraße', 'Â alone', '£5 ©']) {
      expect(fixMojibake(text)).toBe(text);
    }
  });

  it('splits ligatures and narrows full-width forms', () => {
    expect(fixLatinLigatures('ﬂower ﬃ ĳ')).toBe('flower ffi ij');
    expect(fixCharacterWidth('Ｈｅｌｌｏ\u3000１２３！')).toBe('Hello 123!');
    expect(fixCharacterWidth('ｱｲｳ')).toBe('アイウ');
  });

  it('uncurls quotes and decodes entities only in text without a literal <', () => {
    expect(uncurlQuotes('‘a’ “b” ‛c‟')).toBe(`'a' "b" 'c"`);
    expect(fixText('&EACUTE;t&eacute; &#x41;')).toBe('Été A');
    expect(fixText('<b>&amp;</b>')).toBe('<b>&amp;</b>');
  });

  it('cleans the way the official pipeline does end to end', () => {
    expect(cleanText('  Ｂｒｏｎｚｅ  STATUE\t&amp;amp;amp; “cast” ')).toBe(
      'bronze statue & "cast"',
    );
  });
});

describe('encode', () => {
  it('splits digits one by one and keeps contractions whole', () => {
    const ids = tok.encode("it's 42");
    expect(tok.decode(ids)).toBe("it 's 4 2 ");
  });

  it('maps the special-token spellings to their ids, as the official tokenizer does', () => {
    expect(tok.encode('<|endoftext|>')).toEqual([EOT_TOKEN]);
  });

  it('refuses to decode an id outside the vocabulary', () => {
    expect(() => tok.decode([49408])).toThrow(/outside CLIP's vocabulary/);
  });
});
