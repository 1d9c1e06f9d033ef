import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { animateGrids } from '../images/animation.ts';
import { fitImage } from '../images/fit.ts';
import { adaptedSamples, gridCells, numberedSamples } from '../images/samples.ts';
import type { RunEventHandlers } from '../jobs/events.ts';
import type { AdaptJobResult } from '../jobs/job-schema.ts';
import { queuePosition } from '../jobs/producer.ts';
import { parseProgress, type RunProgress } from '../jobs/progress.ts';
import type { AdaptQueue } from '../jobs/queue.ts';
import { logger } from '../log.ts';
import type { ChatRun, ChatRuns, RunState } from './chat-runs.ts';
import type { Favourites } from './favourites.ts';
import * as messages from './messages.ts';
import type { ThreadRef } from './platform.ts';
import type { Quotas } from './quotas.ts';
import type { ThreadFile, ThreadPlatform } from './thread-platform.ts';
import * as text from './thread-messages.ts';
import type { ThreadRuns } from './thread-runs.ts';
import { understoodMessage } from './understood-message.ts';

export interface RunPostsOptions {
  platform: ThreadPlatform;
  queue: AdaptQueue;
  artifactsDir: string;
  runs: ChatRuns;
  threads: ThreadRuns;
  favourites: Favourites;
  quotas: Quotas;
}

/**
 * Turns the runs' progress into thread posts: queue position, grids, the final numbered grid
 * and the animation. Each post is claimed in Redis first, so with several bot processes, or a
 * restarted one catching up, every post appears once.
 */
export class RunPosts {
  private readonly lastLoss = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: RunPostsOptions) {}

  private get platform() {
    return this.opts.platform;
  }

  /** Handlers for `subscribeRunEvents`, run one at a time with the catch-up. */
  handlers(): RunEventHandlers {
    return {
      onActive: (id) => this.serial(() => this.onActive(id)),
      onProgress: (id, p) => this.serial(() => this.onProgress(id, p)),
      onCompleted: (id, r) => this.serial(() => this.onCompleted(id, r)),
      onFailed: (id, reason) => this.serial(() => this.onFailed(id, reason)),
    };
  }

  /**
   * Posts what open runs did while no bot listened (a restart): grids on disk not yet posted,
   * and the end of runs that finished meanwhile.
   */
  async catchUp(): Promise<void> {
    await this.serial(async () => {
      for (const runId of await this.opts.runs.open(this.platform.name)) {
        const job = await this.opts.queue.getJob(runId);
        const state = job ? await job.getState() : 'missing';
        logger.info({ runId, state }, 'catching up on an open run');
        for (const grid of await this.gridsOnDisk(runId))
          await this.onGrid(runId, grid.step, grid.path);
        if (state === 'completed' && job) await this.onCompleted(runId, job.returnvalue);
        else if (state === 'failed' && job) await this.onFailed(runId, job.failedReason);
        else if (state === 'active') await this.onActive(runId);
        else if (state === 'missing') await this.endOrphan(runId);
      }
    });
  }

  /** Runs waiting or running now: where a new run will stand. */
  async queueLength(): Promise<number> {
    const counts = await this.opts.queue.getJobCounts('active', 'waiting', 'prioritized');
    return (counts.active ?? 0) + (counts.waiting ?? 0) + (counts.prioritized ?? 0);
  }

  /** Edits the run's queue line when its position changed. */
  async showPosition(run: ChatRun, position: number | 'running' | 'ended'): Promise<void> {
    if (!run.positionMessageId) return;
    const line = text.queueLine(position);
    if (run.positionShown === line) return;
    const controls = position === 'ended' ? undefined : { stopRunId: run.runId };
    await this.platform.editText(this.threadOf(run), run.positionMessageId, line, controls);
    await this.opts.runs.update(run.runId, { positionShown: line });
  }

  /** Marks a run ended and frees its quota slot. */
  async endRun(run: ChatRun, state: RunState): Promise<void> {
    await this.opts.runs.end(run, state);
    await this.opts.quotas.release({
      platform: run.platform,
      userId: run.userId,
      channelId: run.channelId,
      runId: run.runId,
    });
  }

  /** Posts the thread's favourites from the run's last grid, one full-size image each. */
  async saveFavourites(run: ChatRun): Promise<void> {
    const thread = this.threadOf(run);
    const favourites = await this.opts.favourites.list(run.platform, run.threadId);
    const grids = await this.opts.runs.grids(run.runId);
    const last = grids.at(-1);
    if (favourites.length === 0 || !last)
      return void (await this.platform.postText(thread, text.threadMessages.noFavourites));

    const samples = await adaptedSamples(await this.readArtifact(last));
    const files: ThreadFile[] = [];
    for (const n of favourites.filter((n) => n <= samples.length)) {
      files.push(...(await this.fit(samples[n - 1], `favourite-${n}`, run.uploadLimitBytes)));
    }
    const step = stepOf(last);
    await this.platform.postFiles(thread, files, text.savedCaption(favourites, step));
  }

  /** Resolves once the posts under way are done. */
  async idle(): Promise<void> {
    await this.chain;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.chain.then(task);
    this.chain = next.catch((err: unknown) => logger.error({ err }, 'run post failed'));
    return next;
  }

  // A run became active: it runs now, and the ones behind it moved up.
  private async onActive(activeId: string): Promise<void> {
    for (const runId of await this.opts.runs.open(this.platform.name)) {
      const run = await this.opts.runs.get(runId);
      if (!run || (run.state !== 'queued' && runId !== activeId)) continue;
      const position = runId === activeId ? 'running' : await queuePosition(this.opts.queue, runId);
      if (position === undefined) continue;
      if (position === 'running' && run.state === 'queued')
        await this.opts.runs.update(runId, { state: 'running' });
      await this.showPosition(run, position);
    }
  }

  private async onProgress(runId: string, progress: RunProgress): Promise<void> {
    switch (progress.type) {
      case 'started':
        return this.post(runId, 'started', (run, t) =>
          this.platform.postText(t, messages.startedMessage(progress.totalSteps, run.startStep)),
        );
      case 'step':
        this.lastLoss.set(runId, progress.loss);
        return;
      case 'grid':
        return this.onGrid(runId, progress.step, progress.path);
      case 'checkpoint':
        return void (await this.opts.runs.update(runId, { stepReached: progress.step }));
      case 'note':
        return this.post(runId, `note-${progress.code}`, (run, t) =>
          this.platform.postText(t, messages.noteMessage(this.platform.format, progress.message)),
        );
      case 'understood':
        return this.post(runId, 'understood', (run, t) =>
          this.platform.postText(t, understoodMessage(this.platform.format, progress.routing)),
        );
      default:
        return;
    }
  }

  // A grid arrived: fit it to the thread's upload limit, post it and remember the message.
  private async onGrid(runId: string, step: number, artifactPath: string): Promise<void> {
    await this.post(runId, `grid-${step}`, async (run, thread) => {
      await this.opts.runs.addGrid(runId, artifactPath);
      const bytes = await this.readArtifact(artifactPath);
      const files = await this.fit(
        bytes,
        path.basename(artifactPath, '.png'),
        run.uploadLimitBytes,
      );
      const messageId = await this.platform.postFiles(
        thread,
        files,
        this.gridCaption(run, step, files.length),
      );
      // a redraw's samples are other latents: their numbers mark no favourites
      const samples = run.kind === 'redraw' ? 0 : await sampleCount(bytes);
      await this.opts.runs.rememberGrid(run.platform, messageId, {
        runId,
        threadId: run.threadId,
        step,
        samples,
      });
    });
  }

  private gridCaption(run: ChatRun, step: number, parts: number): string {
    if (run.kind === 'redraw') return text.redrawCaption(step, run.seed);
    const loss = step > run.startStep ? this.lastLoss.get(run.runId) : undefined;
    return text.stepCaption(step, run.startStep + run.steps, parts, loss);
  }

  private async onCompleted(runId: string, result: AdaptJobResult): Promise<void> {
    this.lastLoss.delete(runId);
    await this.post(runId, 'final', async (run, thread) => {
      for (const grid of result.grids) await this.opts.runs.addGrid(runId, grid);
      await this.opts.runs.update(runId, { stepReached: result.steps });
      await this.showPosition(run, 'ended');
      if (run.kind === 'redraw') return this.endRun(run, 'finished');
      await this.postFinalGrid(run, thread, result);
      await this.postAnimation(run, thread);
      const done = messages.finishedMessage(
        result.steps,
        result.firstLoss,
        result.lastLoss,
        result.cancelled,
      );
      await this.platform.postText(thread, done);
      await this.endRun(run, result.cancelled ? 'cancelled' : 'finished');
    });
  }

  private async onFailed(runId: string, reason: string): Promise<void> {
    this.lastLoss.delete(runId);
    await this.post(runId, 'final', async (run, thread) => {
      const job = await this.opts.queue.getJob(runId);
      const progress = parseProgress(job?.progress);
      const [code, message] =
        progress?.type === 'error' ? [progress.code, progress.message] : ['internal', reason];
      await this.platform.postText(
        thread,
        messages.failureMessage(this.platform.format, code, message, runId),
      );
      await this.endRun(run, 'failed');
    });
  }

  // The last grid's adapted samples, numbered, favourites first.
  private async postFinalGrid(run: ChatRun, thread: ThreadRef, result: AdaptJobResult) {
    const last = (await this.opts.runs.grids(run.runId)).at(-1);
    if (!last) return;
    const favourites = await this.opts.favourites.list(run.platform, run.threadId);
    const png = await numberedSamples(await this.readArtifact(last), {
      favourites,
      caption: `step ${result.steps}`,
    });
    const files = await this.fit(
      png,
      `final-${String(result.steps).padStart(6, '0')}`,
      run.uploadLimitBytes,
    );
    const samples = await sampleCount(await this.readArtifact(last));
    const caption = text.finalCaption(
      this.platform.format,
      run,
      result.steps,
      samples,
      favourites,
      result.cancelled,
    );
    const messageId = await this.platform.postFiles(thread, files, caption);
    await this.opts.runs.rememberGrid(run.platform, messageId, {
      runId: run.runId,
      threadId: run.threadId,
      step: result.steps,
      samples,
    });
  }

  // The grids of the run and of the runs it trains on from (`more` continuations), animated.
  private async postAnimation(run: ChatRun, thread: ThreadRef): Promise<void> {
    const frames: string[] = [];
    for (let r: ChatRun | undefined = run; r;) {
      frames.unshift(...(await this.opts.runs.grids(r.runId)));
      r = r.kind === 'more' && r.parentRunId ? await this.opts.runs.get(r.parentRunId) : undefined;
    }
    if (frames.length < 2) return;
    try {
      const bytes = await animateGrids(frames.map((f) => this.artifactPath(f)));
      const files = await this.fit(bytes, 'run', run.uploadLimitBytes);
      await this.platform.postFiles(thread, files, text.threadMessages.animationCaption);
    } catch (err) {
      // the animation is a bonus: the final grid and the closing line still go out
      logger.warn({ err, runId: run.runId }, 'animation not posted');
    }
  }

  private async endOrphan(runId: string): Promise<void> {
    const run = await this.opts.runs.get(runId);
    if (run) await this.endRun(run, 'cancelled');
  }

  // Posts for a run of this platform, once across every bot process.
  private async post(
    runId: string,
    eventKey: string,
    send: (run: ChatRun, thread: ThreadRef) => Promise<unknown>,
  ): Promise<void> {
    const run = await this.opts.runs.get(runId);
    if (!run || run.platform !== this.platform.name) return;
    if (!(await this.opts.threads.claim(runId, eventKey))) return;
    await send(run, this.threadOf(run));
  }

  private async fit(
    bytes: Buffer,
    baseName: string,
    maxUploadBytes: number,
  ): Promise<ThreadFile[]> {
    const { files, method } = await fitImage(bytes, { maxUploadBytes });
    if (method !== 'original')
      logger.info({ baseName, method, maxUploadBytes }, 'image fitted to the upload limit');
    return files.map((f, i) => ({
      bytes: f.bytes,
      name: `${baseName}${files.length > 1 ? `-part${i + 1}` : ''}.${f.format === 'jpeg' ? 'jpg' : f.format}`,
    }));
  }

  private async gridsOnDisk(runId: string): Promise<{ step: number; path: string }[]> {
    const dir = this.artifactPath(`${runId}/grids`);
    const names = await readdir(dir).catch(() => [] as string[]);
    return names
      .filter((n) => /^step-\d+\.png$/.test(n))
      .sort()
      .map((n) => ({ step: stepOf(n), path: `${runId}/grids/${n}` }));
  }

  private readArtifact(relative: string): Promise<Buffer> {
    return readFile(this.artifactPath(relative));
  }

  // Artifact paths come from job progress: keep them inside the store.
  private artifactPath(relative: string): string {
    const full = path.resolve(this.opts.artifactsDir, relative);
    if (!full.startsWith(this.opts.artifactsDir + path.sep)) {
      throw new Error(`artifact path ${relative} leaves the artifact store`);
    }
    return full;
  }

  private threadOf(run: ChatRun): ThreadRef {
    return { channelId: run.channelId, threadId: run.threadId };
  }
}

function stepOf(file: string): number {
  return Number(/step-(\d+)\./.exec(file)?.[1] ?? 0);
}

async function sampleCount(gridPng: Buffer): Promise<number> {
  const { default: sharp } = await import('sharp');
  const meta = await sharp(gridPng).metadata();
  return gridCells(meta.width ?? 0, meta.height ?? 0).columns;
}
