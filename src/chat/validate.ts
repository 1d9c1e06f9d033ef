import { randomInt } from 'node:crypto';
import { isNadaError } from '../errors.ts';
import { MAX_PROMPT_CHARS } from '../jobs/job-schema.ts';
import { comparableText, normalisePrompt } from '../text/normalise.ts';
import type { NadaArgs } from './parse-command.ts';

/** The settings a command is checked against (from the configuration). */
export interface NadaLimits {
  defaultSource: string;
  defaultSteps: number;
  maxSteps: number;
}

/** A command that passed every check, texts as the engine normalises them (`normalisePrompt`). */
export interface NadaRequest {
  prompt: string;
  source: string;
  steps: number;
  seed: number;
}

type TextField = 'prompt' | 'source';

/** Why a command was refused; `messages.ts` turns each into a friendly reply. */
export type NadaProblem =
  | { kind: 'empty'; field: TextField }
  | { kind: 'invisible'; field: TextField }
  | { kind: 'broken-text'; field: TextField; count: number }
  | { kind: 'too-long'; field: TextField; chars: number; limit: number }
  | { kind: 'same-as-source'; prompt: string; source: string }
  | { kind: 'bad-number'; field: 'steps' | 'seed'; value: string; min: number; max: number };

export type Validation = { ok: true; request: NadaRequest } | { ok: false; problem: NadaProblem };

const MAX_SEED = 2 ** 31 - 1;

/**
 * Checks `/nada` arguments with the engine's own clean-up (`normalisePrompt`), so a command
 * that passes here is not refused for its texts after queueing: texts neither empty, nor
 * only invisible characters, nor holding a broken character (lone surrogate), nor over
 * `MAX_PROMPT_CHARS` (300) code points once normalised; the target differs from the source
 * as the engine compares them; steps and seed are whole numbers in range. A missing seed is
 * drawn at random.
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

function checkText(field: TextField, raw: string): { text: string } | NadaProblem {
  const label = field === 'prompt' ? 'prompt' : 'source text';
  try {
    const opts = { maxChars: MAX_PROMPT_CHARS, loneSurrogates: 'refuse' as const, label };
    return { text: normalisePrompt(raw, opts).text };
  } catch (err) {
    const problem = textProblem(field, raw, err);
    if (problem) return problem;
    throw err;
  }
}

// The refusals of normalisePrompt as chat problems; anything else is a bug and is thrown.
function textProblem(field: TextField, raw: string, err: unknown): NadaProblem | undefined {
  if (isNadaError(err, 'prompt.empty')) {
    // JavaScript's \s counts the BOM as a space; here it is an invisible character.
    const typedSomething = /[^\s]|\ufeff/u.test(raw);
    return { kind: typedSomething ? 'invisible' : 'empty', field };
  }
  if (isNadaError(err, 'prompt.invalid_text')) {
    const { loneSurrogates } = err.context as { loneSurrogates: number };
    return { kind: 'broken-text', field, count: loneSurrogates };
  }
  if (isNadaError(err, 'prompt.too_long')) {
    const { chars, limit } = err.context as { chars: number; limit: number };
    return { kind: 'too-long', field, chars, limit };
  }
  return undefined;
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
