import path from 'node:path';
import type { Job } from 'bullmq';
import { NadaError, isNadaError } from '../src/errors.ts';
import type { AdaptJobResult } from '../src/jobs/job-schema.ts';
import type { RunProgress } from '../src/jobs/progress.ts';
import type { AdaptResult, EngineEvent } from '../src/nada/types.ts';

/**
 * Turns engine events into job progress: artifact paths become relative to the artifact
 * store (the bots may mount it elsewhere), a failure becomes an `error` progress that the
 * chat turns into a friendly reply.
 */
export class ProgressReporter {
  private step = 0;
  private finished?: Extract<EngineEvent, { type: 'finished' }>;
  private failed?: Extract<EngineEvent, { type: 'failed' }>;
  private errorReported = false;

  constructor(
    private readonly job: Job,
    private readonly artifactsDir: string,
  ) {}

  /** Reports one engine event as job progress. */
  async report(event: EngineEvent): Promise<void> {
    if ('step' in event) this.step = event.step;
    if (event.type === 'finished') this.finished = event;
    if (event.type === 'failed') this.failed = event;
    await this.job.updateProgress(this.toProgress(event));
    if (event.type === 'failed') this.errorReported = true;
  }

  /** An engine that reported `failed` and returned still fails the job. */
  throwIfFailed(): void {
    if (!this.failed) return;
    throw new NadaError(this.failed.code, this.failed.message, { step: this.failed.step });
  }

  /** Reports a thrown error as `error` progress, unless the engine already reported it. */
  async reportError(err: unknown): Promise<void> {
    if (this.errorReported) return;
    const code = isNadaError(err) ? err.code : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    await this.job.updateProgress({ type: 'error', step: this.step, code, message });
    this.errorReported = true;
  }

  /** The job's return value: the run's steps, first and last loss, grids. */
  summary(result: AdaptResult): AdaptJobResult {
    return {
      runId: result.runId,
      steps: this.finished?.step ?? this.step,
      firstLoss: finiteOrNull(this.finished?.firstLoss ?? result.losses[0]),
      lastLoss: finiteOrNull(this.finished?.lastLoss ?? result.losses.at(-1)),
      grids: result.grids.map((g) => this.relative(g)),
      cancelled: result.cancelled,
    };
  }

  private toProgress(event: EngineEvent): RunProgress {
    switch (event.type) {
      case 'grid':
      case 'checkpoint':
        return { ...event, path: this.relative(event.path) };
      case 'failed':
        return { type: 'error', step: event.step, code: event.code, message: event.message };
      default:
        return event;
    }
  }

  private relative(file: string): string {
    return path.relative(this.artifactsDir, path.resolve(file)).split(path.sep).join('/');
  }
}

// A run stopped before its first step has no loss (the engine reports NaN).
function finiteOrNull(value: number | undefined): number | null {
  return value !== undefined && Number.isFinite(value) ? value : null;
}
