import { existsSync } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { problemMessage } from '../chat/messages.ts';
import { validateNadaArgs } from '../chat/validate.ts';
import { loadConfig } from '../config.ts';
import { NadaError } from '../errors.ts';
import { newRunId } from '../jobs/producer.ts';
import {
  type AdaptCliOptions,
  checkCombination,
  engineOptions,
  findRunCheckpoint,
} from './adapt-options.ts';
import { logger, setModelLogLevel } from '../log.ts';
import { readCheckpointMeta } from '../nada/checkpoint.ts';
import { makeWritableFolder } from '../nada/run-folder.ts';
import type { EngineEvent } from '../nada/types.ts';

// The chat's markdown means nothing in a terminal: show texts as they are.
const plainFormat = { escape: (t: string) => t, bold: (t: string) => t, code: (t: string) => t };

/**
 * `nadabot adapt "<prompt>"`: the same adaptation a chat job runs, here and now, with no
 * Redis; grids and checkpoints go to `--out` (default `<artifacts>/<run id>`), a progress
 * bar shows the steps. `--resume RUN` trains an earlier run further in its own folder;
 * `--continue RUN` starts a new run toward the prompt from where RUN stopped.
 *
 * @example
 * nadabot adapt "bronze statue" --steps 20 --seed 7
 * // 3 grids in artifacts/r-…/grids … loss 0.9871 → 0.7012
 * nadabot adapt --resume artifacts/r-… --steps 10
 */
export async function adaptCommand(
  prompt: string | undefined,
  options: AdaptCliOptions,
): Promise<void> {
  // settings, the combination of options, and the same checks the chat applies
  const config = loadConfig();
  checkCombination(prompt, options);
  const earlier = options.resume ?? options.continue;
  const from = earlier === undefined ? undefined : findRunCheckpoint(earlier, config.artifactsDir);
  const request = options.resume
    ? resumeRequest(options, config)
    : checkRequest(prompt!, options, config, from && parentTarget(from.checkpoint));
  // a resumed run keeps its id, so the engine knows it for the same run (its first loss)
  const runId = options.resume ? readCheckpointMeta(from!.checkpoint).runId : newRunId();
  const defaultDir = options.resume ? from!.runDir : path.join(config.artifactsDir, runId);
  const runDir = path.resolve(options.out ?? defaultDir);
  const resumingInPlace = options.resume !== undefined && runDir === path.resolve(from!.runDir);
  if (!resumingInPlace) refuseRunFolder(runDir);
  makeWritableFolder(runDir, options.out === undefined ? 'NADABOT_ARTIFACTS' : '--out');

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
  // the run's first loss, which a resumed run keeps from its checkpoint
  let finished: Extract<EngineEvent, { type: 'finished' }> | undefined;
  const result = await runAdaptation(
    {
      ...engineOptions(options),
      target: request.prompt,
      source: request.source,
      steps: request.steps,
      seed: request.seed,
      batch: options.batch ?? config.training.batch,
      outputInterval: options.outputInterval ?? config.training.outputInterval,
      nSample: options.samples ?? config.training.previewSamples,
      runDir,
      runId,
      model: options.model ?? config.modelId,
      resumeFrom: options.resume ? from!.checkpoint : undefined,
      continueFrom: options.continue ? from!.checkpoint : undefined,
    },
    {
      logger,
      onEvent: (event) => {
        if (event.type === 'finished') finished = event;
        showEvent(bar, event);
      },
    },
  ).finally(() => bar.stop());

  // where the images are
  const grids = result.grids.length === 1 ? '1 grid' : `${result.grids.length} grids`;
  process.stdout.write(`${grids} in ${path.join(runDir, 'grids')}\n`);
  for (const grid of result.grids) process.stdout.write(`  ${grid}\n`);
  if (finished) {
    const [first, last] = [finished.firstLoss.toFixed(4), finished.lastLoss.toFixed(4)];
    process.stdout.write(
      `loss ${first} at the run's first step → ${last} at step ${finished.step}\n`,
    );
  }
  if (result.checkpoint)
    process.stdout.write(`train it further: nadabot adapt --resume ${runDir}\n`);
}

type Config = ReturnType<typeof loadConfig>;

interface Request {
  prompt: string;
  source: string;
  steps: number;
  seed: number;
}

// The chat's checks on a new run's texts and numbers. A continued run starts from its
// parent's target, so that is its source unless --source says otherwise.
function checkRequest(
  prompt: string,
  options: AdaptCliOptions,
  config: Config,
  parentTarget: string | undefined,
): Request {
  const checked = validateNadaArgs(
    {
      prompt,
      source: options.source ?? parentTarget,
      steps: options.steps,
      seed: options.seed,
    },
    {
      defaultSource: config.training.source,
      defaultSteps: config.training.defaultSteps,
      maxSteps: config.training.maxSteps,
    },
  );
  if (!checked.ok) {
    throw new NadaError('prompt.invalid', problemMessage(plainFormat, checked.problem));
  }
  return checked.request;
}

// A resumed run's texts and seed come from its checkpoint; only the step count is asked.
function resumeRequest(options: AdaptCliOptions, config: Config): Request {
  const steps = options.steps ?? config.training.defaultSteps;
  if (steps > config.training.maxSteps) {
    throw new NadaError(
      'cli.usage',
      `--steps ${steps} is over NADABOT_MAX_STEPS (${config.training.maxSteps})`,
    );
  }
  return { prompt: '', source: '', steps, seed: 0 };
}

function parentTarget(checkpoint: string): string {
  return readCheckpointMeta(checkpoint).target;
}

/** A new run never writes into another run's folder: its grids and checkpoints would mix. */
function refuseRunFolder(runDir: string): void {
  const taken = ['run.json', 'checkpoints', 'grids'].some((f) => existsSync(path.join(runDir, f)));
  if (!taken) return;
  throw new NadaError(
    'cli.out_taken',
    `--out ${runDir} holds a run already: pick another folder, or train that run further ` +
      `with \`nadabot adapt --resume ${runDir}\``,
    { runDir },
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
