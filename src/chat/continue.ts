import { parseCommandText, type NadaArgs, type ParsedCommand } from './parse-command.ts';

/** What a reply in a run's thread asks for. */
export type ThreadReply =
  | { kind: 'more'; steps: number }
  | ({ kind: 'steer'; text: string } & Omit<NadaArgs, 'prompt'>)
  | (Extract<ParsedCommand, { command: 'bad-option' }> & { kind: 'bad-option' })
  | { kind: 'save' }
  | { kind: 'stop' }
  | { kind: 'redraw' }
  | { kind: 'ignore' };

// "20", "+20", "20 more", "20 steps", "more 20": a number of further steps.
const MORE = /^(?:\+|more\s+)?(\d{1,6})(?:\s*(?:more|steps?|more steps?))?$/iu;
// Anything else that reads as a number: signs, decimals, exponents, long digit runs.
const NUMBER_LIKE = /^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:e[+-]?\d+)?$/iu;

/**
 * Reads a reply typed in a run's thread (mentions of the bot already removed): a number
 * trains that many more steps, `save` posts the favourites, `stop` or `/stop` cancels, `again`
 * draws new samples, and any other text steers toward that text, with `/nada`'s options
 * (`--steps`, `--seed`, `--source`) read off it as they are from the command.
 *
 * @example
 * parseThreadReply('20');           // { kind: 'more', steps: 20 }
 * parseThreadReply('bronze statue'); // { kind: 'steer', text: 'bronze statue' }
 * parseThreadReply('watercolor --steps 10');
 * // { kind: 'steer', text: 'watercolor', steps: '10' }
 */
export function parseThreadReply(raw: string): ThreadReply {
  const text = raw.trim();
  if (text === '') return { kind: 'ignore' };
  const word = text.toLowerCase().replace(/[.!]+$/u, '');
  if (word === 'save') return { kind: 'save' };
  if (word === 'stop' || word === '/stop' || word === 'cancel') return { kind: 'stop' };
  if (word === 'again' || word === 'redraw' || word === '🔁') return { kind: 'redraw' };
  const more = MORE.exec(text);
  if (more) return { kind: 'more', steps: Number(more[1]) };
  // "-5", "1e3", "5.5": meant as a step count, so the step check answers, not a run toward "-5"
  if (NUMBER_LIKE.test(text)) return { kind: 'more', steps: Number(text.replace(',', '.')) };
  // other slash commands are not meant for the run (`/help` and friends go to the command path)
  if (text.startsWith('/')) return { kind: 'ignore' };
  return steerReply(text);
}

// The steer text and its options, parsed as `/nada` parses its arguments.
function steerReply(text: string): ThreadReply {
  const parsed = parseCommandText(`/nada ${text}`);
  if (parsed.command === 'bad-option') return { ...parsed, kind: 'bad-option' };
  if (parsed.command !== 'nada') return { kind: 'steer', text };
  // the parser sets only the options that were given
  const { prompt, ...options } = parsed.args;
  return { kind: 'steer', text: prompt, ...options };
}
