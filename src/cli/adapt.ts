import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { problemMessage } from '../chat/messages.ts';
import { validateNadaArgs } from '../chat/validate.ts';
import { loadConfig } from '../config.ts';
import { NadaError } from '../errors.ts';
import { newRunId } from '../jobs/producer.ts';
import { logger, setModelLogLevel } from '../log.ts';
import type { EngineEvent } from '../nada/types.ts';

// The chat's markdown means nothing in a terminal: show texts as they are.
const plainFormat = { escape: (t: string) => t, bold: (t: string) => t, code: (t: string) => t };

export interface AdaptCliOptions {
  source?: string;
  steps?: number;
  seed?: number;
  out?: string;
}

/**
 * `nadabot adapt "<prompt>"`: the same adaptation a chat job runs, here and now, with no
 * Redis; grids and checkpoints go to `--out` (default `<artifacts>/<run id>`), a progress
 * bar shows the steps.
 */
export async function adaptCommand(prompt: string, options: AdaptCliOptions): Promise<void> {
  // settings and the same checks the chat applies
  const config = loadConfig();
  const checked = validateNadaArgs(
    { prompt, source: options.source, steps: options.steps, seed: options.seed },
    {
      defaultSource: config.training.source,
      defaultSteps: config.training.defaultSteps,
      maxSteps: config.training.maxSteps,
    },
  );
  if (!checked.ok) {
    throw new NadaError('prompt.invalid', problemMessage(plainFormat, checked.problem));
  }
  const request = checked.request;
  const runId = newRunId();
  const runDir = path.resolve(options.out ?? path.join(config.artifactsDir, runId));
  makeRunDir(runDir, options.out === undefined ? 'NADABOT_ARTIFACTS' : '--out');

  // backend and models (the engine module loads tfjs; import it only here). At the default
  // level the engine's own error line would repeat, with a stack, the one line printed on exit.
  await setModelLogLevel(config.logLevel === 'info' ? 'fatal' : config.logLevel);
  const { selectBackend } = await import('../models/backend/index.ts');
  const { runAdaptation } = await import('../nada/engine.ts');
  const backend = await selectBackend(config.backend);
  process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);

  // the run, with a progress bar on stderr
  const bar = new SingleBar(
    { format: 'training [{bar}] {value}/{total} steps · loss {loss} · {msPerStep} ms/step' },
    Presets.shades_classic,
  );
  const result = await runAdaptation(
    {
      target: request.prompt,
      source: request.source,
      steps: request.steps,
      seed: request.seed,
      batch: config.training.batch,
      outputInterval: config.training.outputInterval,
      nSample: config.training.previewSamples,
      runDir,
      runId,
      model: config.modelId,
    },
    { logger, onEvent: (event) => showEvent(bar, event) },
  ).finally(() => bar.stop());

  // where the images are
  process.stdout.write(`${result.grids.length} grids in ${path.join(runDir, 'grids')}\n`);
  for (const grid of result.grids) process.stdout.write(`  ${grid}\n`);
  const [first, last] = [result.losses[0], result.losses.at(-1)];
  if (first !== undefined && last !== undefined) {
    process.stdout.write(`loss ${first.toFixed(4)} → ${last.toFixed(4)}\n`);
  }
}

/**
 * Creates the run's folder one level at a time before any model loads, so a bad `--out`
 * gives one line naming it: a file in the way, a place that cannot hold folders. (Node's
 * recursive mkdir never returns for a missing folder under /proc.)
 */
function makeRunDir(runDir: string, setting: string): void {
  // the nearest folder that exists, and the levels to create below it
  const missing: string[] = [];
  let parent = runDir;
  while (!existsSync(parent) && path.dirname(parent) !== parent) {
    missing.unshift(parent);
    parent = path.dirname(parent);
  }
  if (!statSync(parent).isDirectory()) throw outDirError(runDir, setting, `${parent} is a file`);
  try {
    for (const level of missing) mkdirSync(level);
    accessSync(runDir, constants.W_OK);
  } catch (err) {
    throw outDirError(runDir, setting, (err as NodeJS.ErrnoException).code ?? String(err));
  }
}

function outDirError(runDir: string, setting: string, why: string): NadaError {
  return new NadaError(
    'cli.out_dir',
    `${setting} ${runDir}: cannot make the run's folder there (${why}); name a folder ` +
      'nadabot may write to (it is created if missing)',
    { runDir, setting },
  );
}

function showEvent(bar: SingleBar, event: EngineEvent): void {
  switch (event.type) {
    case 'started':
      bar.start(event.totalSteps, 0, { loss: '–', msPerStep: '–' });
      return;
    case 'step':
      bar.update(event.step, {
        loss: event.loss.toFixed(4),
        msPerStep: Math.round(event.msPerStep),
      });
      return;
    case 'note':
      process.stderr.write(`\nnote: ${event.message}\n`);
      return;
    default:
      return;
  }
}
