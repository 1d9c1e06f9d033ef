import { describe, expect, it } from 'vitest';
import { markdownFormat, slackFormat } from '../src/chat/format.ts';
import { failureMessage, problemMessage } from '../src/chat/messages.ts';
import { parseCommandText } from '../src/chat/parse-command.ts';
import { validateNadaArgs, type NadaProblem } from '../src/chat/validate.ts';
import { normalisePrompt } from '../src/text/normalise.ts';
import { commands } from '../commands/index.ts';
import { defineCommand } from '../commands/command-schema.ts';

const limits = { defaultSource: 'photo', defaultSteps: 40, maxSteps: 1000 };

function problemOf(prompt: string, extra: Record<string, string> = {}): NadaProblem {
  const result = validateNadaArgs({ prompt, ...extra }, limits);
  if (result.ok) throw new Error(`expected ${JSON.stringify(prompt)} to be refused`);
  return result.problem;
}

describe('parsing /nada', () => {
  it('GIVEN a Japanese prompt and options in any order THEN each lands in its field', () => {
    expect(parseCommandText('/nada 日本人女性 --steps 8 --seed=3')).toEqual({
      command: 'nada',
      args: { prompt: '日本人女性', steps: '8', seed: '3' },
    });
    expect(parseCommandText('/nada --source "oil painting" bronze statue')).toEqual({
      command: 'nada',
      args: { prompt: 'bronze statue', source: 'oil painting' },
    });
  });

  it('GIVEN a phone-typed em dash THEN it reads as an option', () => {
    expect(parseCommandText('/nada sketch —steps 5')).toEqual({
      command: 'nada',
      args: { prompt: 'sketch', steps: '5' },
    });
  });

  it('GIVEN an unknown, empty or repeated option THEN the parser says which', () => {
    expect(parseCommandText('/nada x --size 4')).toMatchObject({
      option: 'size',
      reason: 'unknown',
    });
    expect(parseCommandText('/nada x --steps')).toMatchObject({
      option: 'steps',
      reason: 'no-value',
    });
    expect(parseCommandText('/nada x --seed 1 --seed 2')).toMatchObject({ reason: 'repeated' });
  });

  it('GIVEN other messages THEN they are told apart', () => {
    expect(parseCommandText('hello')).toEqual({ command: 'not-a-command' });
    expect(parseCommandText('/STOP')).toEqual({ command: 'stop' });
    expect(parseCommandText('/imagine cats')).toEqual({ command: 'unknown', name: 'imagine' });
  });
});

describe('validating /nada', () => {
  it('GIVEN a valid prompt THEN defaults fill the rest and the seed is drawn', () => {
    const result = validateNadaArgs({ prompt: '  日本人女性\u200b ' }, limits);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.request).toMatchObject({ prompt: '日本人女性', source: 'photo', steps: 40 });
    expect(Number.isInteger(result.request.seed)).toBe(true);
  });

  it('GIVEN an empty prompt THEN it is refused as empty', () => {
    expect(problemOf('   ')).toEqual({ kind: 'empty', field: 'prompt' });
  });

  it('GIVEN 5,000 characters THEN it is refused with the count and the limit', () => {
    expect(problemOf('顔'.repeat(5000))).toEqual({
      kind: 'too-long',
      field: 'prompt',
      chars: 5000,
      limit: 300,
    });
  });

  it('GIVEN only zero-width characters THEN it is refused as invisible', () => {
    expect(problemOf('\u200b\u200c\u200d\ufeff\u2060')).toEqual({
      kind: 'invisible',
      field: 'prompt',
    });
  });

  it('GIVEN "photo" against the source "photo" in other forms THEN it is the same text', () => {
    for (const prompt of ['photo', 'Photo', 'ｐｈｏｔｏ', 'pho\u200bto ']) {
      expect(problemOf(prompt)).toMatchObject({ kind: 'same-as-source' });
    }
    expect(problemOf('sketch', { source: 'SKETCH' })).toMatchObject({ kind: 'same-as-source' });
  });

  it('GIVEN steps or a seed out of range THEN the range is named', () => {
    expect(problemOf('sketch', { steps: '0' })).toMatchObject({
      field: 'steps',
      min: 1,
      max: 1000,
    });
    expect(problemOf('sketch', { steps: '2.5' })).toMatchObject({ field: 'steps' });
    expect(problemOf('sketch', { seed: '-1' })).toMatchObject({ field: 'seed' });
  });
});

describe('validating /nada with the engine normalisation (normalisePrompt)', () => {
  // Each of these passed the chat's own rules and then failed in the engine after queueing.
  function accepted(prompt: string, extra: Record<string, string> = {}) {
    const result = validateNadaArgs({ prompt, ...extra }, limits);
    if (!result.ok) throw new Error(`expected ${JSON.stringify(prompt)} to pass`);
    return result.request;
  }

  it('GIVEN a lone surrogate ("\\uD800cat") THEN it is refused as broken text before queueing', () => {
    expect(problemOf('\uD800cat')).toEqual({ kind: 'broken-text', field: 'prompt', count: 1 });
    expect(problemOf('sketch', { source: 'photo\uDC00' })).toMatchObject({
      kind: 'broken-text',
      field: 'source',
    });
    expect(problemMessage(markdownFormat, problemOf('\uD800cat'))).toMatch(
      /broken character.*paste it again/,
    );
  });

  it('GIVEN a ZWJ or ZWNJ inside "photo" against the source "photo" THEN it is the same text', () => {
    for (const prompt of ['pho\u200Dto', 'pho\u200Cto', '\u200Dphoto']) {
      expect(problemOf(prompt)).toMatchObject({ kind: 'same-as-source', prompt: 'photo' });
    }
  });

  it('GIVEN emoji only THEN they pass, a ZWJ sequence whole', () => {
    expect(accepted('🐱🎨').prompt).toBe('🐱🎨');
    expect(accepted('👩\u200D🔬').prompt).toBe('👩\u200D🔬');
  });

  it('GIVEN right-to-left text THEN it passes unchanged', () => {
    expect(accepted('قطة سوداء').prompt).toBe('قطة سوداء');
    expect(accepted('חתול שחור', { source: 'צילום' })).toMatchObject({
      prompt: 'חתול שחור',
      source: 'צילום',
    });
  });

  it('GIVEN bidi override characters THEN they are removed; alone they are invisible', () => {
    expect(accepted('\u202Ebronze statue\u202C').prompt).toBe('bronze statue');
    expect(accepted('\u2067قطة\u2069').prompt).toBe('قطة');
    expect(problemOf('\u202Ephoto\u202C')).toMatchObject({ kind: 'same-as-source' });
    expect(problemOf('\u202E\u202D\u2066')).toEqual({ kind: 'invisible', field: 'prompt' });
  });

  it('GIVEN text that NFKC lengthens past 300 (20 × "ﷺ", 18 letters each) THEN it is too long', () => {
    expect(problemOf('ﷺ'.repeat(20))).toEqual({
      kind: 'too-long',
      field: 'prompt',
      chars: 360,
      limit: 300,
    });
  });

  it('GIVEN any accepted text THEN it is what the engine normalises it to, and stays so', () => {
    const inputs = [
      'ｂｒｏｎｚｅ  statue',
      '\u202Eقطة',
      '👩\u200D🔬 pho\u200Dto',
      ' 日本人女性\u200b',
    ];
    for (const input of inputs) {
      const { prompt } = accepted(input);
      expect(prompt).toBe(normalisePrompt(input).text);
      expect(normalisePrompt(prompt).text).toBe(prompt);
    }
  });
});

describe('replies', () => {
  it('GIVEN markup and mentions in a prompt THEN the echo is inert on each platform', () => {
    const problem = problemOf('**@everyone** <@1>', { source: '**@everyone** <@1>' });
    const discord = problemMessage(markdownFormat, problem);
    expect(discord).toContain('\\*\\*@\u200beveryone\\*\\*');
    expect(discord).not.toContain('<@1>');
    expect(slackFormat.escape('<!channel> & <@U1>')).toBe('&lt;!channel&gt; &amp; &lt;@U1&gt;');
  });

  it('GIVEN each problem THEN the reply says what was wrong and what to do', () => {
    const f = markdownFormat;
    expect(problemMessage(f, problemOf(''))).toMatch(/empty.*e\.g\./);
    expect(problemMessage(f, problemOf('x'.repeat(5000)))).toMatch(
      /5,000 characters.*limit is 300/,
    );
    expect(problemMessage(f, problemOf('\u200b'))).toMatch(/invisible.*Type the words/);
    expect(problemMessage(f, problemOf('photo'))).toMatch(/same as the source.*--source/);
  });
});

describe('command definitions', () => {
  it('GIVEN the bundled commands THEN each passed the schema and /nada has its options', () => {
    const nada = commands.find((c) => c.name === 'nada');
    expect(nada?.options.map((o) => o.name)).toEqual(['prompt', 'source', 'steps', 'seed']);
  });

  it('GIVEN a bad definition THEN loading it throws naming the field', () => {
    expect(() => defineCommand({ name: 'Bad Name', description: 'x', options: [] })).toThrow(
      /command \/Bad Name: name/,
    );
  });
});

describe('a failed run in the thread', () => {
  it('GIVEN an uncoded worker error (a file system error naming a path) THEN the reply leaves it out', () => {
    const reply = failureMessage(
      markdownFormat,
      'internal',
      "ENOTDIR: not a directory, mkdir '/srv/nadabot/artifacts/run1'",
      'run1',
    );
    expect(reply).toBe(
      'The run failed on the worker. Try again; if it keeps failing, tell whoever runs this bot (run `run1`).',
    );
  });

  it('GIVEN a coded error without a friendly sentence THEN its message is shown, escaped', () => {
    const reply = failureMessage(markdownFormat, 'model.corrupt', 'weights are *odd*', 'run2');
    expect(reply).toContain('The run failed: weights are \\*odd\\*.');
  });

  it('GIVEN an artifact store the worker cannot write THEN the reply says so without its path', () => {
    const reply = failureMessage(markdownFormat, 'run.folder', 'NADABOT_ARTIFACTS /srv/x: …', 'r');
    expect(reply).not.toContain('/srv');
    expect(reply).toContain('not writable');
  });
});
