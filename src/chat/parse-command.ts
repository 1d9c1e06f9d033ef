/** The raw arguments of `/nada`, as typed or as a platform's slash-command options. */
export interface NadaArgs {
  prompt: string;
  source?: string;
  steps?: string | number;
  seed?: string | number;
}

export type ParsedCommand =
  | { command: 'nada'; args: NadaArgs }
  | { command: 'stop' }
  | { command: 'help' }
  | { command: 'unknown'; name: string }
  | { command: 'not-a-command' }
  | { command: 'bad-option'; option: string; reason: 'unknown' | 'no-value' | 'repeated' };

const NADA_OPTIONS = ['source', 'steps', 'seed'] as const;
type NadaOption = (typeof NADA_OPTIONS)[number];

// `--steps 8`, `--steps=8`; phones turn `--` into an em or en dash, so accept those too.
const OPTION_TOKEN = /^(?:--|[—–])([\p{L}\p{N}_-]+)(?:=(.*))?$/u;
const QUOTES: Record<string, string> = { '"': '"', '“': '”', '「': '」', "'": "'" };

/**
 * Parses a typed command: `/nada <prompt> [--source text] [--steps n] [--seed n]`, `/stop`,
 * `/help`. Options may come anywhere; quotes keep spaces inside a value
 * (`--source "oil painting"`). Numbers stay text here; `validateNadaArgs` checks them.
 *
 * @example
 * parseCommandText('/nada 日本人女性 --steps 8');
 * // { command: 'nada', args: { prompt: '日本人女性', steps: '8' } }
 */
export function parseCommandText(text: string): ParsedCommand {
  const match = /^\s*\/([\p{L}\p{N}_-]+)(.*)$/su.exec(text);
  if (!match) return { command: 'not-a-command' };

  const name = match[1].toLowerCase();
  if (name === 'stop' || name === 'help') return { command: name };
  if (name !== 'nada') return { command: 'unknown', name: match[1] };
  return parseNadaArgs(splitTokens(match[2]));
}

function parseNadaArgs(tokens: Token[]): ParsedCommand {
  const words: string[] = [];
  const options: Partial<Record<NadaOption, string>> = {};

  for (let i = 0; i < tokens.length; i++) {
    const option = tokens[i].quoted ? null : OPTION_TOKEN.exec(tokens[i].text);
    if (!option) {
      words.push(tokens[i].text);
      continue;
    }
    const name = option[1].toLowerCase() as NadaOption;
    if (!NADA_OPTIONS.includes(name))
      return { command: 'bad-option', option: option[1], reason: 'unknown' };
    if (options[name] !== undefined)
      return { command: 'bad-option', option: name, reason: 'repeated' };

    let value = option[2];
    if (value === undefined && tokens[i + 1] && !isOption(tokens[i + 1])) value = tokens[++i].text;
    if (value === undefined || value === '')
      return { command: 'bad-option', option: name, reason: 'no-value' };
    options[name] = value;
  }
  return { command: 'nada', args: { prompt: words.join(' '), ...options } };
}

interface Token {
  text: string;
  quoted: boolean;
}

// Whitespace-separated tokens; a token opening with a quote runs to its closing quote.
function splitTokens(text: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...text];
  let i = 0;
  while (i < chars.length) {
    if (/\s/u.test(chars[i])) {
      i++;
      continue;
    }
    const close = QUOTES[chars[i]];
    const end = close ? chars.indexOf(close, i + 1) : -1;
    if (close && end > i) {
      tokens.push({ text: chars.slice(i + 1, end).join(''), quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < chars.length && !/\s/u.test(chars[j])) j++;
    tokens.push({ text: chars.slice(i, j).join(''), quoted: false });
    i = j;
  }
  return tokens;
}

function isOption(token: Token): boolean {
  return !token.quoted && OPTION_TOKEN.test(token.text);
}
