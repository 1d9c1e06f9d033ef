import { randomInt } from 'node:crypto';
import { MAX_PROMPT_CHARS } from '../jobs/job-schema.ts';
import type { NadaArgs } from './parse-command.ts';
import { charCount, cleanText, comparableText, onlyInvisible } from './text.ts';

/** The settings a command is checked against (from the configuration). */
export interface NadaLimits {
  defaultSource: string;
  defaultSteps: number;
  maxSteps: number;
}

/** A command that passed every check, texts cleaned of invisible characters. */
export interface NadaRequest {
  prompt: string;
  source: string;
  steps: number;
  seed: number;
}

/** Why a command was refused; `messages.ts` turns each into a friendly reply. */
export type NadaProblem =
  | { kind: 'empty'; field: 'prompt' | 'source' }
  | { kind: 'invisible'; field: 'prompt' | 'source' }
  | { kind: 'too-long'; field: 'prompt' | 'source'; chars: number; limit: number }
  | { kind: 'same-as-source'; prompt: string; source: string }
  | { kind: 'bad-number'; field: 'steps' | 'seed'; value: string; min: number; max: number };

export type Validation = { ok: true; request: NadaRequest } | { ok: false; problem: NadaProblem };

const MAX_SEED = 2 ** 31 - 1;

/**
 * Checks `/nada` arguments: texts neither empty, nor only invisible characters, nor over
 * `MAX_PROMPT_CHARS` (300) code points; the target differs from the source after
 * normalisation (NFKC, case, invisible characters); steps and seed are whole numbers in range.
 * A missing seed is drawn at random.
 */
export function validateNadaArgs(args: NadaArgs, limits: NadaLimits): Validation {
  const prompt = checkText('prompt', args.prompt);
  if ('kind' in prompt) return { ok: false, problem: prompt };
  const source = checkText('source', args.source ?? limits.defaultSource);
  if ('kind' in source) return { ok: false, problem: source };

  if (comparableText(prompt.text) === comparableText(source.text)) {
    return {
      ok: false,
      problem: { kind: 'same-as-source', prompt: prompt.text, source: source.text },
    };
  }

  const steps = checkInteger('steps', args.steps ?? limits.defaultSteps, 1, limits.maxSteps);
  if (typeof steps !== 'number') return { ok: false, problem: steps };
  const seed = checkInteger('seed', args.seed ?? randomInt(MAX_SEED), 0, MAX_SEED);
  if (typeof seed !== 'number') return { ok: false, problem: seed };

  return { ok: true, request: { prompt: prompt.text, source: source.text, steps, seed } };
}

function checkText(field: 'prompt' | 'source', raw: string): { text: string } | NadaProblem {
  if (onlyInvisible(raw)) return { kind: 'invisible', field };
  const text = cleanText(raw);
  if (text === '') return { kind: 'empty', field };

  const chars = charCount(text);
  if (chars > MAX_PROMPT_CHARS) return { kind: 'too-long', field, chars, limit: MAX_PROMPT_CHARS };
  return { text };
}

function checkInteger(
  field: 'steps' | 'seed',
  raw: string | number,
  min: number,
  max: number,
): number | NadaProblem {
  const text = String(raw).trim();
  const value = /^[+]?\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
  return { kind: 'bad-number', field, value: text, min, max };
}
