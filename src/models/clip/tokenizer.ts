import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../../errors.ts';
import { cleanText } from './text-cleaning.ts';

const VOCAB_URL = new URL('./assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url);

/** Start- and end-of-text ids; the text encoder pools at the end token (the largest id). */
export const SOT_TOKEN = 49406;
export const EOT_TOKEN = 49407;

// Merge lines 1..48894 of the vocabulary file (line 0 is a header): 49152 − 256 − 2 merges.
const MERGE_COUNT = 49152 - 256 - 2;

// OpenAI's word split: special tokens, English contractions, letter runs, single digits,
// and runs of everything else. Applied to lower-cased, whitespace-collapsed text.
const WORD_SPLIT =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

export interface TokenizeOptions {
  /** 77 for every released CLIP */
  contextLength?: number;
  /** keep the first `contextLength` ids (the last one becoming EOT) instead of failing */
  truncate?: boolean;
}

/**
 * OpenAI CLIP's byte-level BPE tokenizer (simple_tokenizer.py) with its text cleaning.
 *
 * @example
 * const tok = ClipTokenizer.load();
 * tok.encode('a photo of a dog.'); // [320, 1125, 539, 320, 1929, 269]
 * tok.tokenize(['sketch']).shape;  // [1, 77]: 49406, 5269, 49407, 0, …
 */
export class ClipTokenizer {
  private readonly encoder = new Map<string, number>();
  private readonly decoder: string[];
  private readonly ranks = new Map<string, number>();
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();

  private constructor(vocabText: string) {
    const merges = vocabText.split('\n').slice(1, MERGE_COUNT + 1);
    const bytes = [...this.byteEncoder.values()];

    // vocabulary: bytes, bytes ending a word, every merge, then the two special tokens
    const vocab = [...bytes, ...bytes.map((b) => `${b}</w>`)];
    merges.forEach((line, i) => {
      this.ranks.set(line, i);
      vocab.push(line.replace(' ', ''));
    });
    vocab.push('<|startoftext|>', '<|endoftext|>');

    this.decoder = vocab;
    vocab.forEach((token, id) => this.encoder.set(token, id));
    this.byteEncoder.forEach((char, byte) => this.byteDecoder.set(char, byte));
    this.cache.set('<|startoftext|>', ['<|startoftext|>']);
    this.cache.set('<|endoftext|>', ['<|endoftext|>']);
  }

  /** The tokenizer with the vocabulary bundled in `assets/` (OpenAI's, MIT licence). */
  static load(): ClipTokenizer {
    return new ClipTokenizer(gunzipSync(readFileSync(VOCAB_URL)).toString('utf8'));
  }

  /** BPE ids of a text after CLIP's cleaning, without start/end tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [word] of cleanText(text).matchAll(WORD_SPLIT)) {
      const utf8 = new TextEncoder().encode(word);
      const chars = Array.from(utf8, (b) => this.byteEncoder.get(b)!).join('');
      for (const token of this.bpe(chars)) ids.push(this.encoder.get(token)!);
    }
    return ids;
  }

  /**
   * Token ids for the text encoder: int32 [texts, contextLength], each row SOT, ids, EOT,
   * then zeros. A text that does not fit fails with `text.too_long` unless `truncate`.
   */
  tokenize(texts: string[], opts: TokenizeOptions = {}): tf.Tensor2D {
    const contextLength = opts.contextLength ?? 77;
    const data = new Int32Array(texts.length * contextLength);
    texts.forEach((text, row) => {
      const ids = [SOT_TOKEN, ...this.encode(text), EOT_TOKEN];
      if (ids.length > contextLength) {
        if (!opts.truncate) throw tooLong(text, ids.length, contextLength);
        ids.length = contextLength;
        ids[contextLength - 1] = EOT_TOKEN;
      }
      data.set(ids, row * contextLength);
    });
    return tf.tensor2d(data, [texts.length, contextLength], 'int32');
  }

  /** Text of a list of ids; each end of word becomes a space ("a photo " for [320, 1125]). */
  decode(ids: number[]): string {
    const chars = ids.map((id) => {
      const token = this.decoder[id];
      if (token === undefined) {
        throw new NadaError('text.bad_token', `token id ${id} is outside CLIP's vocabulary`, {
          id,
          vocabSize: this.decoder.length,
        });
      }
      return token;
    });
    const bytes = Array.from(chars.join(''), (c) => this.byteDecoder.get(c) ?? 0x3f);
    return new TextDecoder('utf-8').decode(new Uint8Array(bytes)).replaceAll('</w>', ' ');
  }

  /** Number of BPE tokens a text becomes, SOT and EOT included. */
  countTokens(text: string): number {
    return this.encode(text).length + 2;
  }

  // Merges the lowest-ranked adjacent pair until none is in the merge table.
  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    let word = [...token];
    word[word.length - 1] += '</w>';

    while (word.length > 1) {
      const best = this.lowestPair(word);
      if (best === null) break;
      word = mergePair(word, best[0], best[1]);
    }
    this.cache.set(token, word);
    return word;
  }

  private lowestPair(word: string[]): [string, string] | null {
    let best: [string, string] | null = null;
    let bestRank = Infinity;
    for (let i = 0; i < word.length - 1; i++) {
      const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = [word[i], word[i + 1]];
      }
    }
    return best;
  }
}

// Every occurrence of `first second`, left to right, becomes one symbol.
function mergePair(word: string[], first: string, second: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < word.length; i++) {
    if (word[i] === first && word[i + 1] === second && i < word.length - 1) {
      out.push(first + second);
      i++;
    } else {
      out.push(word[i]);
    }
  }
  return out;
}

/**
 * GPT-2's reversible byte → printable character map: printable Latin-1 bytes stand for
 * themselves, the others get characters from U+0100 on.
 */
export function bytesToUnicode(): Map<number, string> {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map<number, string>();
  for (let b = 0; b < 256; b++) if (printable(b)) map.set(b, String.fromCharCode(b));
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable(b)) map.set(b, String.fromCharCode(256 + extra++));
  }
  return map;
}

function tooLong(text: string, count: number, limit: number): NadaError {
  const preview = text.length > 60 ? `${text.slice(0, 57)}…` : text;
  return new NadaError(
    'text.too_long',
    `"${preview}" is ${count} tokens with start and end markers; CLIP reads at most ${limit}. ` +
      'Shorten the text, or allow truncation to keep its first part',
    { tokens: count, limit, text },
  );
}
