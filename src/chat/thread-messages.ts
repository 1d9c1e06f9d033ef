import type { AccessRefusal } from './access.ts';
import type { ChatRun } from './chat-runs.ts';
import type { ChatFormat } from './platform.ts';
import type { QuotaRefusal } from './quotas.ts';
import { NUMBER_EMOJIS, REDRAW_EMOJI, STOP_EMOJI } from './reactions.ts';

/** The reply to a command from a channel or person the operator did not allow. */
export function accessMessage(f: ChatFormat, refusal: AccessRefusal): string {
  if (refusal.kind === 'channel')
    return 'I do not take commands in this channel (allowed channels are set by whoever runs this bot). Try one of the channels they opened for it.';
  return `Runs here are for members with one of the roles the operator allowed (${refusal.roles.length} role${refusal.roles.length === 1 ? '' : 's'}). Ask a moderator for access.`;
}

/** The reply to a command over one of the operator's limits, naming it. */
export function quotaMessage(f: ChatFormat, refusal: QuotaRefusal): string {
  switch (refusal.kind) {
    case 'user-runs':
      return `You already have ${refusal.limit} run${refusal.limit === 1 ? '' : 's'} queued or running, the limit per person. Wait for one to finish, or stop it with ⏹.`;
    case 'channel-runs':
      return `This channel already has ${refusal.limit} runs queued or running, the limit per channel. Try again when one finishes.`;
    case 'daily-steps': {
      const left = Math.max(0, refusal.limit - refusal.used);
      return `That needs ${refusal.asked} steps, but the daily quota is ${refusal.limit} steps per person and you have ${left} left today (it resets at 00:00 UTC). Ask for ${f.code(String(left))} steps or fewer.`;
    }
  }
}

/** The first line in a new thread: where the run stands in the queue. */
export function queueLine(position: number | 'running' | 'ended'): string {
  if (position === 'running') return 'Queue position: running now.';
  if (position === 'ended') return 'Queue position: done.';
  if (position === 0) return 'Queue position: next in line.';
  return `Queue position: ${position} run${position === 1 ? '' : 's'} ahead.`;
}

/** Caption of a grid posted while training. */
export function stepCaption(
  step: number,
  totalSteps: number,
  parts: number,
  loss?: number,
): string {
  const lossText = loss === undefined ? '' : ` · loss ${loss.toFixed(4)}`;
  const split = parts > 1 ? ` (in ${parts} parts: too large for one upload)` : '';
  return `Step ${step} / ${totalSteps}${lossText}${split}`;
}

/** The text over the final grid: what the numbers mean and what a person can do next. */
export function finalCaption(
  f: ChatFormat,
  run: ChatRun,
  step: number,
  samples: number,
  favourites: number[],
  cancelled: boolean,
): string {
  const head = cancelled
    ? `Stopped at step ${step}, as asked.`
    : `Final grid at step ${step}: ${f.escape(run.source)} → ${f.bold(f.escape(run.prompt))}.`;
  const favs = favourites.length ? ` Favourites (shown first): ${favourites.join(', ')}.` : '';
  const numbers = NUMBER_EMOJIS.slice(0, Math.min(samples, 10)).join(' ');
  return [
    `${head}${favs}`,
    `React ${numbers} to mark favourites. Reply a number to train that many more steps, reply text to steer toward it, ${f.code('save')} for the favourites at full size, ${REDRAW_EMOJI} for new samples, ${STOP_EMOJI} stops a run.`,
  ].join('\n');
}

/** Caption of a grid of new samples drawn without training. */
export function redrawCaption(step: number, seed: number): string {
  return `New samples from the generator at step ${step} (seed ${seed}), no training. Their numbers are not favourites; reply a number or text to train on from the last run.`;
}

/** The text over a saved favourites post. */
export function savedCaption(favourites: number[], step: number): string {
  return `Favourites ${favourites.join(', ')} at step ${step}, full size.`;
}

export const threadMessages = {
  noFavourites: 'No favourites yet: react with a number on a grid to mark one, then reply save.',
  notFinished:
    'This run is still going. Wait for the final grid (or stop it with ⏹), then reply again.',
  noCheckpoint: 'That run left no checkpoint to continue from; start a new one with /nada.',
  stopOnlyRequester: (f: ChatFormat, name: string) =>
    `Only ${f.bold(f.escape(name))} (who started this run) or an operator can stop it.`,
  animationCaption: 'The run, grid by grid.',
};

/** The first, public answer to `/nada`; the thread opens on it. */
export function acceptedLine(
  f: ChatFormat,
  r: { source: string; prompt: string; steps: number; seed: number },
): string {
  const what = `${f.escape(r.source)} → ${f.bold(f.escape(r.prompt))}`;
  return `Adapting ${what}: ${stepsText(r.steps)}, seed ${r.seed}. Follow it in the thread.`;
}

/** The line that opens a continuation in the thread. */
export function continuedLine(f: ChatFormat, run: ChatRun): string {
  if (run.kind === 'more')
    return `Training ${run.steps} more step${run.steps === 1 ? '' : 's'} from step ${run.startStep} toward ${f.bold(f.escape(run.prompt))}.`;
  return `Steering from ${f.escape(run.source)} toward ${f.bold(f.escape(run.prompt))}: ${stepsText(run.steps)}, from where the last run stopped.`;
}

function stepsText(steps: number): string {
  return `${steps} step${steps === 1 ? '' : 's'}`;
}
