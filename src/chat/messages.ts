import type { ChatFormat } from './platform.ts';
import type { NadaProblem, NadaRequest } from './validate.ts';

const EXAMPLE = '/nada 日本人女性';

/** Help for `/help` and for text that is not a command. */
export function helpMessage(f: ChatFormat, maxSteps: number): string {
  const examples = `${f.code(EXAMPLE)} or ${f.code('/nada bronze statue')}`;
  return [
    `Type ${f.code('/nada <prompt>')} to adapt the face generator toward your prompt, ` +
      `in any language: ${examples}.`,
    `Options: ${f.code('--source <text>')} (what the images are now, default photo), ` +
      `${f.code('--steps <n>')} (1 to ${maxSteps}), ${f.code('--seed <n>')}.`,
    `In a run's thread: react with a number on a grid to mark a favourite; reply a number ` +
      `to train that many more steps, other text to steer toward it, ${f.code('save')}, ` +
      `${f.code('again')} or ${f.code('stop')}.`,
  ].join('\n');
}

/** The friendly reply to a refused command: what was wrong and what to do. */
export function problemMessage(f: ChatFormat, problem: NadaProblem): string {
  const what = (field: string) => (field === 'prompt' ? 'The prompt' : 'The source text');
  const example = `e.g. ${f.code(EXAMPLE)}.`;
  switch (problem.kind) {
    case 'empty':
      return `${what(problem.field)} is empty. Tell me what the faces should become, ${example}`;
    case 'invisible':
      return (
        `${what(problem.field)} has only invisible characters (zero-width spaces or similar). ` +
        `Type the words you mean, ${example}`
      );
    case 'broken-text':
      return (
        `${what(problem.field)} holds a broken character (half of an emoji or rare ` +
        'character, cut when it was copied). Please paste it again, or type it anew.'
      );
    case 'too-long':
      return (
        `${what(problem.field)} has ${problem.chars.toLocaleString('en')} characters; ` +
        `the limit is ${problem.limit}. Shorten it to the words that matter: ` +
        'CLIP reads at most 77 tokens anyway.'
      );
    case 'same-as-source':
      return (
        `The prompt ${f.bold(f.escape(problem.prompt))} is the same as the source ` +
        `${f.bold(f.escape(problem.source))}, so there is no direction to train toward. ` +
        `Name a different target, or set another source with ${f.code('--source <text>')}.`
      );
    case 'bad-number':
      return (
        `${f.code(`--${problem.field}`)} must be a whole number ` +
        `from ${problem.min} to ${problem.max}; got ${f.bold(f.escape(problem.value))}.`
      );
  }
}

/** The reply to an option the parser could not use. */
export function badOptionMessage(f: ChatFormat, option: string, reason: string): string {
  const shown = f.code(`--${option}`);
  if (reason === 'no-value') return `${shown} needs a value, e.g. ${f.code(`--${option} 8`)}.`;
  if (reason === 'repeated') return `${shown} is given twice; keep one.`;
  const known = `${f.code('--source')}, ${f.code('--steps')} and ${f.code('--seed')}`;
  return `I do not know the option ${shown}. The options are ${known}.`;
}

/** The reply to `/something` that is not a nadabot command. */
export function unknownCommandMessage(f: ChatFormat, name: string): string {
  return `I do not know ${f.code(`/${name}`)}. Try ${f.code(EXAMPLE)}, or ${f.code('/help')}.`;
}

/** Title of the thread opened for a run. */
export function threadTitle(f: ChatFormat, request: NadaRequest): string {
  return f.escape(`${request.source} → ${request.prompt}`.slice(0, 90));
}

/** Replies to `/nada` while the queue's Redis does not answer. */
export const queueAwayMessages = {
  /** nothing was recorded or queued */
  refused: 'The queue (Redis) is away right now, so nothing was started; try again in a minute.',
};

/** Posted when a worker starts the run; a run that trains on from step N says so. */
export function startedMessage(totalSteps: number, startStep = 0): string {
  const steps = startStep > 0 ? `steps ${startStep + 1} to ${totalSteps}` : `${totalSteps} steps`;
  return (
    `Training started: ${steps}. A preview grid follows at each output interval ` +
    '(top row: the original generator, bottom row: the adapted one).'
  );
}

/** A remark from the engine that does not stop the run (a shortened prompt, say). */
export function noteMessage(f: ChatFormat, message: string): string {
  return `Note: ${f.escape(message)}`;
}

/** The closing message, with the loss at the first and the last step. */
export function finishedMessage(
  steps: number,
  firstLoss: number | null,
  lastLoss: number | null,
  cancelled: boolean,
): string {
  const head = cancelled
    ? `Stopped at step ${steps}, as asked; a checkpoint is kept.`
    : `Done: ${steps} steps.`;
  if (firstLoss === null || lastLoss === null) return head;
  const losses = `${formatLoss(firstLoss)} at the first step → ${formatLoss(lastLoss)} at the last`;
  return `${head} Directional CLIP loss ${losses}.`;
}

export function formatLoss(loss: number): string {
  return loss.toFixed(4);
}

/** Replies to `/stop`. */
export const stopMessages = {
  noRun: 'There is no run in this thread to stop.',
  notInThread:
    '/stop works inside a run’s thread: open the thread of the run to stop and type it ' +
    'there, or press Stop on its queue line.',
  removed: 'Your run was taken off the queue before it started.',
  signalled: 'Stopping after the current step…',
  finished: 'That run has already finished.',
};

// Engine and worker error codes a person can act on; anything else gets the generic reply.
const FRIENDLY: Record<string, (message: string) => string> = {
  'prompt.same_as_source': () =>
    'The prompt means the same as the source text to the text encoder, ' +
    'so there is no direction to train toward. Try other words.',
  'prompt.no_direction': () =>
    'The text encoder sees no difference between your prompt and the source text. ' +
    'Try other words, or a language the encoder knows better.',
  'prompt.too_long': (m) => `The prompt is too long for the text encoder: ${m}. Shorten it.`,
  'text.too_long': (m) => `The prompt is too long for the text encoder: ${m}. Shorten it.`,
  'routing.no_encoder': (m) => `I cannot read the prompt's language: ${m}.`,
  'model.missing': (m) => `The model this bot should use is not installed on the worker: ${m}`,
  'train.non_finite': () =>
    'Training went unstable (the loss stopped being a number). ' +
    'Try another seed or fewer steps.',
  'run.unreadable': () =>
    'The saved files of the run this goes on from are damaged on the worker, so it cannot ' +
    'continue from them. Start a new run with /nada.',
  'run.folder': () =>
    'The worker cannot write this run’s images: its artifact store is not writable. ' +
    'Tell whoever runs this bot; nothing was trained.',
};

/**
 * The reply for a failed run: a friendly sentence for known codes, the message of other coded
 * errors, and for uncoded ones (`internal`: a file system error, a bug) no detail at all,
 * since those name the worker's paths; the worker's log has them under the run id.
 */
export function failureMessage(
  f: ChatFormat,
  code: string,
  message: string,
  runId: string,
): string {
  const friendly = FRIENDLY[code];
  if (friendly) return friendly(f.escape(message));
  const what =
    code === 'internal' ? 'The run failed on the worker' : `The run failed: ${f.escape(message)}`;
  return (
    `${what}. Try again; if it keeps failing, ` +
    `tell whoever runs this bot (run ${f.code(runId)}).`
  );
}
