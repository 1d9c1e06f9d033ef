import path from 'node:path';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { redisConnected } from '../jobs/connection.ts';
import { subscribeRunEvents } from '../jobs/events.ts';
import type { AdaptJobResult } from '../jobs/job-schema.ts';
import { cancelAdaptation, enqueueAdaptation, newRunId, queuePosition } from '../jobs/producer.ts';
import { parseProgress, type RunProgress } from '../jobs/progress.ts';
import type { AdaptQueue } from '../jobs/queue.ts';
import { logger } from '../log.ts';
import * as messages from './messages.ts';
import { parseCommandText, type NadaArgs } from './parse-command.ts';
import type { ChatPlatform, CommandContext, ThreadRef } from './platform.ts';
import { ThreadRuns, type RunRecord } from './thread-runs.ts';
import { understoodMessage } from './understood-message.ts';
import { validateNadaArgs, type NadaLimits, type NadaRequest } from './validate.ts';

// How long `/nada` waits for Redis to record and queue a run before it answers that the
// run waits for Redis: a prompt answer, and room for a slow Redis under load.
const QUEUE_ANSWER_MS = 2000;

export interface ConversationOptions {
  platform: ChatPlatform;
  queue: AdaptQueue;
  /** a plain connection for the thread ↔ run mapping and stop requests */
  redis: Redis;
  events: QueueEvents;
  /** absolute path of the artifact store, where the worker writes the grids */
  artifactsDir: string;
  limits: NadaLimits;
  /** a preview grid every this many steps */
  outputInterval: number;
}

/** Where a command was typed: the context plus the thread, when typed inside one. */
export type MessageContext = CommandContext & { threadId?: string };

/**
 * The platform-free conversation: turns commands into queued runs and the runs' progress
 * into posts in their threads. One per platform adapter; any number of bot processes may
 * run one against the same Redis (each event is posted once).
 *
 * @example
 * const chat = new NadaConversation({ platform, queue, redis, events, ... });
 * chat.start();
 * await chat.handleText('/nada 日本人女性', ctx);
 * // ctx.respond('Adapting photo → **日本人女性**: 40 steps, seed 7. Queue position: next in line.')
 */
export class NadaConversation {
  private readonly runs: ThreadRuns;
  private readonly records = new Map<string, RunRecord>();
  /** our queued runs and the position last posted for each */
  private readonly queued = new Map<string, number>();
  private readonly lastLoss = new Map<string, number>();
  /** runs whose first answer is not sent yet: their thread posts wait for it */
  private readonly answering = new Map<string, Promise<void>>();
  private unsubscribe?: () => void;

  constructor(private readonly opts: ConversationOptions) {
    this.runs = new ThreadRuns(opts.redis, opts.queue.name);
  }

  private get f() {
    return this.opts.platform.format;
  }

  /** Starts posting run progress into threads. */
  start(): void {
    this.unsubscribe = subscribeRunEvents(this.opts.events, {
      onActive: (jobId) => this.onActive(jobId),
      onProgress: (jobId, progress) => this.onProgress(jobId, progress),
      onCompleted: (jobId, result) => this.onCompleted(jobId, result),
      onFailed: (jobId, reason) => this.onFailed(jobId, reason),
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /**
   * Handles one typed message. Never throws: a bad input gets a friendly reply, an internal
   * failure a short apology, and the bot goes on serving.
   */
  async handleText(text: string, ctx: MessageContext): Promise<void> {
    await this.guard(ctx, async () => {
      const parsed = parseCommandText(text);
      switch (parsed.command) {
        case 'nada':
          return this.startRun(parsed.args, ctx);
        case 'stop':
          return this.stopRun(ctx);
        case 'bad-option':
          return ctx.respond(messages.badOptionMessage(this.f, parsed.option, parsed.reason));
        case 'unknown':
          return ctx.respond(messages.unknownCommandMessage(this.f, parsed.name));
        default:
          return ctx.respond(messages.helpMessage(this.f, this.opts.limits.maxSteps));
      }
    });
  }

  /** Handles `/nada` given as a platform's structured slash-command options. */
  async handleNada(args: NadaArgs, ctx: MessageContext): Promise<void> {
    await this.guard(ctx, () => this.startRun(args, ctx));
  }

  /** Handles `/stop` typed in a thread. */
  async handleStop(ctx: MessageContext): Promise<void> {
    await this.guard(ctx, () => this.stopRun(ctx));
  }

  private async guard(ctx: MessageContext, task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (err) {
      logger.error({ err, userId: ctx.userId }, 'command failed');
      await ctx
        .respond(
          'Something went wrong on my side; nothing was started. Please try again in a moment.',
        )
        .catch((replyErr: unknown) => logger.error({ err: replyErr }, 'could not reply'));
    }
  }

  private async startRun(args: NadaArgs, ctx: MessageContext): Promise<void> {
    // validate before anything is opened or queued
    const checked = validateNadaArgs(args, this.opts.limits);
    if (!checked.ok) return ctx.respond(messages.problemMessage(this.f, checked.problem));
    const request = checked.request;

    // open the thread and remember it before the job exists, so no event finds it unknown
    const thread = await this.opts.platform.openThread(
      ctx.channelId,
      messages.threadTitle(this.f, request),
    );
    const runId = newRunId();
    const record: RunRecord = {
      runId,
      prompt: request.prompt,
      steps: request.steps,
      platform: this.opts.platform.name,
      ...thread,
    };
    this.records.set(runId, record);

    // queue the job and answer at once with its place in line; a fast worker's first posts
    // wait for this answer so the thread reads in order
    let answered!: () => void;
    this.answering.set(runId, new Promise<void>((resolve) => (answered = resolve)));
    try {
      // Redis away: ioredis keeps the commands and sends them when it is back; say so now
      const queued = this.queueRun(record, request, ctx);
      const waitMs = redisConnected(this.opts.redis) ? QUEUE_ANSWER_MS : 0;
      const late = !(await settlesWithin(queued, waitMs));
      if (late) {
        logger.warn({ runId, userId: ctx.userId }, 'Redis is away; the run waits for it');
        await ctx.respond(messages.queueAwayMessages.waiting);
      }
      const position = await queued;
      logger.info({ runId, position, userId: ctx.userId }, 'run queued');
      await ctx.respond(
        late
          ? messages.queueBackMessage(this.f, request, position)
          : messages.acceptedMessage(this.f, request, position),
      );
    } finally {
      answered();
      this.answering.delete(runId);
    }
  }

  // Remembers the run's thread and puts the run on the queue; resolves to its place in line.
  private async queueRun(
    record: RunRecord,
    request: NadaRequest,
    ctx: MessageContext,
  ): Promise<number> {
    await this.runs.save(record);
    const { position } = await enqueueAdaptation(this.opts.queue, {
      ...request,
      runId: record.runId,
      outputInterval: this.opts.outputInterval,
      requester: { platform: record.platform, userId: ctx.userId, name: ctx.userName },
      reply: { platform: record.platform, channelId: record.channelId, threadId: record.threadId },
    });
    if (position > 0) this.queued.set(record.runId, position);
    return position;
  }

  private async stopRun(ctx: MessageContext): Promise<void> {
    const runId = ctx.threadId
      ? await this.runs.byThread(this.opts.platform.name, ctx.threadId)
      : undefined;
    if (!runId) return ctx.respond(messages.stopMessages.noRun);

    const outcome = await cancelAdaptation(this.opts.queue, this.opts.redis, runId);
    this.queued.delete(runId);
    const reply = outcome === 'not-running' ? 'finished' : outcome;
    await ctx.respond(messages.stopMessages[reply]);
  }

  // A run became active: the ones behind it moved up.
  private async onActive(jobId: string): Promise<void> {
    this.queued.delete(jobId);
    for (const [runId, posted] of this.queued) {
      const position = await queuePosition(this.opts.queue, runId);
      if (position === undefined || position === 0) this.queued.delete(runId);
      if (position === undefined || position === posted) continue;
      if (position > 0) this.queued.set(runId, position);
      await this.post(runId, `position-${position}`, (t) =>
        this.opts.platform.postText(t, messages.positionText(position)),
      );
    }
  }

  private async onProgress(runId: string, progress: RunProgress): Promise<void> {
    switch (progress.type) {
      case 'started':
        return this.post(runId, 'started', (t) =>
          this.opts.platform.postText(t, messages.startedMessage(progress.totalSteps)),
        );
      case 'step':
        this.lastLoss.set(runId, progress.loss);
        return;
      case 'grid':
        return this.postGrid(runId, progress.step, progress.path);
      case 'note':
        return this.post(runId, `note-${progress.code}`, (t) =>
          this.opts.platform.postText(t, messages.noteMessage(this.f, progress.message)),
        );
      case 'understood':
        return this.post(runId, 'understood', (t) =>
          this.opts.platform.postText(t, understoodMessage(this.f, progress.routing)),
        );
      default:
        return;
    }
  }

  private async postGrid(runId: string, step: number, artifactPath: string): Promise<void> {
    const filePath = path.resolve(this.opts.artifactsDir, artifactPath);
    if (!filePath.startsWith(this.opts.artifactsDir + path.sep)) {
      logger.warn({ runId, artifactPath }, 'grid path outside the artifact store; not posted');
      return;
    }
    const record = await this.record(runId);
    const loss = step === 0 ? undefined : this.lastLoss.get(runId);
    const caption = messages.gridCaption(step, record?.steps, loss);
    await this.post(runId, `grid-${step}`, (t) =>
      this.opts.platform.postImage(t, { filePath, artifactPath }, caption),
    );
  }

  private async onCompleted(runId: string, result: AdaptJobResult): Promise<void> {
    this.lastLoss.delete(runId);
    const text = messages.finishedMessage(
      result.steps,
      result.firstLoss,
      result.lastLoss,
      result.cancelled,
    );
    await this.post(runId, 'done', (t) => this.opts.platform.postText(t, text));
    this.records.delete(runId);
  }

  private async onFailed(runId: string, reason: string): Promise<void> {
    this.lastLoss.delete(runId);
    this.queued.delete(runId);
    const job = await this.opts.queue.getJob(runId);
    const progress = parseProgress(job?.progress);
    const [code, message] =
      progress?.type === 'error' ? [progress.code, progress.message] : ['internal', reason];
    const text = messages.failureMessage(this.f, code, message, runId);
    await this.post(runId, 'done', (t) => this.opts.platform.postText(t, text));
    this.records.delete(runId);
  }

  // Posts into the run's thread when the run is ours and no other bot process posted it.
  private async post(runId: string, eventKey: string, send: (t: ThreadRef) => Promise<void>) {
    await this.answering.get(runId);
    const record = await this.record(runId);
    if (!record || record.platform !== this.opts.platform.name) return;
    if (!(await this.runs.claim(runId, eventKey))) return;
    await send({ channelId: record.channelId, threadId: record.threadId });
  }

  private async record(runId: string): Promise<RunRecord | undefined> {
    const cached = this.records.get(runId);
    if (cached) return cached;
    const record = await this.runs.byRun(runId);
    if (record) this.records.set(runId, record);
    return record;
  }
}

// True when `promise` settles within `ms`. It goes on either way; a rejection is left to
// whoever awaits it next.
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
