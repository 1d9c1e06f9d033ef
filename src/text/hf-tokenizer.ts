import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';

import { NadaError } from '../errors.ts';

/** A right-padded batch of token ids, ready for a transformer: [batch, length] row-major. */
export interface TokenBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  batch: number;
  length: number;
  tokens: string[][];
}

/** The parts of tokenizer.json nadabot reads itself; the library reads the rest. */
interface NormalizerJson {
  type?: string;
  lowercase?: boolean;
  strip_accents?: boolean | null;
  normalizers?: NormalizerJson[];
}
type Json = Record<string, unknown> & {
  normalizer?: NormalizerJson | null;
  padding?: { pad_id?: number } | null;
};

/**
 * A Hugging Face `tokenizer.json` (WordPiece, Unigram, BPE…) run by `@huggingface/tokenizers`,
 * plus what nadabot needs around it: batch padding, a token limit, and whether it strips
 * accents.
 */
export class HfTokenizer {
  readonly padId: number;
  readonly stripsMarks: boolean;
  private readonly tokenizer: Tokenizer;

  private constructor(json: Json, config: Json, padId: number) {
    this.tokenizer = new Tokenizer(json, config);
    this.padId = padId;
    this.stripsMarks = normaliserStripsMarks(json.normalizer) || config.strip_accents === true;
  }

  /** Reads `tokenizer.json` (and `tokenizer_config.json` if present) from a model folder. */
  static load(dir: string, fallbackPadId?: number): HfTokenizer {
    const path = join(dir, 'tokenizer.json');
    if (!existsSync(path)) {
      throw new NadaError(
        'encoder.tokenizer_missing',
        `${path} does not exist: the model folder needs the tokenizer.json of its release`,
        { dir },
      );
    }
    const json = JSON.parse(readFileSync(path, 'utf8')) as Json;
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, 'utf8')) as Json) : {};
    return HfTokenizer.fromJson(json, config, fallbackPadId);
  }

  /** From parsed tokenizer.json / tokenizer_config.json contents. */
  static fromJson(json: Json, config: Json = {}, fallbackPadId?: number): HfTokenizer {
    const probe = new Tokenizer(json, config);
    const padId =
      json.padding?.pad_id ??
      probe.token_to_id('<pad>') ??
      probe.token_to_id('[PAD]') ??
      fallbackPadId;
    if (padId === undefined) {
      throw new NadaError(
        'encoder.tokenizer_invalid',
        'tokenizer.json names no padding token (<pad> or [PAD]) and config.json no pad_token_id',
        {},
      );
    }
    return new HfTokenizer(json, config, padId);
  }

  /** Token strings with special tokens, as the model sees them. */
  tokenize(text: string): string[] {
    return this.tokenizer.encode(text).tokens;
  }

  /**
   * Tokenizes with special tokens and pads to the longest text with `padId` (as
   * `padding=True` does). More than `maxTokens` in any text → `text.too_long`.
   */
  encodeBatch(texts: string[], maxTokens: number): TokenBatch {
    const encoded = texts.map((t) => this.tokenizer.encode(t));
    if (encoded.length === 0) {
      return {
        inputIds: new Int32Array(),
        attentionMask: new Int32Array(),
        batch: 0,
        length: 0,
        tokens: [],
      };
    }
    const length = Math.max(...encoded.map((e) => e.ids.length));
    const longest = encoded.findIndex((e) => e.ids.length === length);
    if (length > maxTokens) {
      throw new NadaError(
        'text.too_long',
        `"${texts[longest].slice(0, 40)}…" is ${length} tokens, this encoder takes at most ` +
          `${maxTokens}: shorten it`,
        { tokens: length, limit: maxTokens },
      );
    }
    const inputIds = new Int32Array(texts.length * length).fill(this.padId);
    const attentionMask = new Int32Array(texts.length * length);
    encoded.forEach((e, row) => {
      inputIds.set(e.ids, row * length);
      attentionMask.fill(1, row * length, row * length + e.ids.length);
    });
    return {
      inputIds,
      attentionMask,
      batch: texts.length,
      length,
      tokens: encoded.map((e) => e.tokens),
    };
  }
}

/** Whether a tokenizer.json normalizer drops nonspacing marks (uncased BERT does). */
export function normaliserStripsMarks(normalizer: NormalizerJson | null | undefined): boolean {
  if (!normalizer) return false;
  switch (normalizer.type) {
    case 'StripAccents':
      return true;
    case 'BertNormalizer':
      // strip_accents null follows lowercase, as in the Rust tokenizers crate.
      return (
        normalizer.strip_accents === true ||
        (normalizer.strip_accents == null && normalizer.lowercase === true)
      );
    case 'Sequence':
      return (normalizer.normalizers ?? []).some(normaliserStripsMarks);
    default:
      return false;
  }
}
