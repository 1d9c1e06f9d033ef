import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { redisConnected } from '../jobs/connection.ts';
import { subscribeRunEvents } from '../jobs/events.ts';
import { cancelAdaptation, enqueueAdaptation, newRunId } from '../jobs/producer.ts';
import type { AdaptQueue } from '../jobs/queue.ts';
import { logger } from '../log.ts';
import { accessRefusal, isOperator, type AccessPolicy, type Actor } from './access.ts';
import { ChatRuns, type ChatRun } from './chat-runs.ts';
import { parseThreadReply, type ThreadReply } from './continue.ts';
import { ProcessedEvents } from './event-ids.ts';
import { Favourites } from './favourites.ts';
import * as messages from './messages.ts';
import type { NadaArgs } from './parse-command.ts';
import type { ThreadRef } from './platform.ts';
import { Quotas, type QuotaLimits } from './quotas.ts';
import { RunPosts } from './run-posts.ts';
import type {
  CommandEvent,
  ReactionEvent,
  ThreadMessageEvent,
  ThreadPlatform,
} from './thread-platform.ts';
import * as text from './thread-messages.ts';
import { ThreadRuns } from './thread-runs.ts';
import { validateNadaArgs, type NadaLimits, type NadaRequest } from './validate.ts';

export interface ThreadConversationOptions {
  platform: ThreadPlatform;
  queue: AdaptQueue;
  /** a plain connection for the chat's records */
  redis: Redis;
  events: QueueEvents;
  /** absolute path of the artifact store, where the worker writes grids and checkpoints */
  artifactsDir: string;
  limits: NadaLimits;
  /** a preview grid every this many steps */
  outputInterval: number;
  access: AccessPolicy;
  quotas: QuotaLimits;
}

/** Where a continuation starts: the parent's checkpoint, resumed or continued toward new text. */
interface StartFrom {
  resumeFrom?: string;
  continueFrom?: string;
  redrawFrom?: string;
}

const MAX_SEED = 2 ** 31 - 1;

function newSeed(): number {
  return randomInt(MAX_SEED);
}

/**
 * The conversation of every platform (Discord, Slack, the local web chat): `/nada` opens a
 * thread on its answer; the thread shows the queue position, the grids as they arrive and a
 * final numbered grid; number reactions mark favourites; replies continue the run. All state
 * is in Redis, so a restarted bot (or a second one) goes on where the first stopped.
 *
 * @example
 * const chat = new ThreadConversation({ platform, queue, redis, events, ... });
 * await chat.start();
 * await chat.handleCommand({ prompt: 'bronze statue', steps: 20 }, commandEvent);
 * // commandEvent.accept('Adapting photo → **bronze statue**: 20 steps, seed 7. …', title)
 */
export class ThreadConversation {
  private readonly threads: ThreadRuns;
  private readonly runs: ChatRuns;
  private readonly seen: ProcessedEvents;
  private readonly favourites: Favourites;
  private readonly quotas: Quotas;
  private readonly posts: RunPosts;
  private unsubscribe?: () => void;

  constructor(private readonly opts: ThreadConversationOptions) {
    const q = opts.queue.name;
    this.threads = new ThreadRuns(opts.redis, q);
    this.runs = new ChatRuns(opts.redis, q);
    this.seen = new ProcessedEvents(opts.redis, q);
    this.favourites = new Favourites(opts.redis, q);
    this.quotas = new Quotas(opts.redis, q, opts.quotas);
    this.posts = new RunPosts({
      platform: opts.platform,
      queue: opts.queue,
      artifactsDir: opts.artifactsDir,
      runs: this.runs,
      threads: this.threads,
      favourites: this.favourites,
      quotas: this.quotas,
    });
  }

  private get f() {
    return this.opts.platform.format;
  }

  private get name() {
    return this.opts.platform.name;
  }

  /** Starts posting run progress, after catching up on what happened while no bot listened. */
  async start(): Promise<void> {
    this.unsubscribe = subscribeRunEvents(this.opts.events, this.posts.handlers());
    await this.posts.catchUp();
  }

  /** Stops posting and waits for the posts under way. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.posts.idle();
  }

  /**
   * Handles `/nada` with its options. Never throws; a repeated delivery is ignored. Without
   * Redis it is refused at once: the delivery, the quota and the run all live there, and the
   * platform wants its answer within seconds.
   */
  async handleCommand(args: NadaArgs, ev: CommandEvent): Promise<void> {
    if (!redisConnected(this.opts.redis)) {
      logger.warn({ eventId: ev.eventId, userId: ev.userId }, 'Redis is away; /nada refused');
      await ev
        .refuse(messages.queueAwayMessages.refused)
        .catch((err: unknown) => logger.error({ err }, 'could not reply'));
      return;
    }
    if (!(await this.seen.firstTime(this.name, `command:${ev.eventId}`))) {
      logger.info({ eventId: ev.eventId }, 'repeated command ignored');
      return;
    }
    await this.guard(
      (t) => ev.refuse(t),
      async () => {
        // who, where, and what was asked
        const access = accessRefusal(this.opts.access, ev);
        if (access) return ev.refuse(text.accessMessage(this.f, access));
        const checked = validateNadaArgs(args, this.opts.limits);
        if (!checked.ok) return ev.refuse(messages.problemMessage(this.f, checked.problem));

        // the operator's limits, taken before anything is posted
        const runId = newRunId();
        const request = checked.request;
        const quota = await this.quotas.reserve({
          ...this.quotaOf(ev, runId),
          steps: request.steps,
        });
        if (quota) return ev.refuse(text.quotaMessage(this.f, quota));

        // the public answer and its thread, then the job
        try {
          const thread = await ev.accept(
            text.acceptedLine(this.f, request),
            messages.threadTitle(this.f, request),
          );
          const run = this.newRun(runId, thread, ev, request, ev.uploadLimitBytes);
          await this.startJob(run, {});
        } catch (err) {
          await this.quotas.release(this.quotaOf(ev, runId));
          throw err;
        }
      },
    );
  }

  /** Handles a message typed in a thread: continue, save, stop. Other threads are ignored. */
  async handleThreadMessage(ev: ThreadMessageEvent): Promise<void> {
    const runId = await this.threads.byThread(this.name, ev.thread.threadId);
    if (!runId) return;
    if (!(await this.seen.firstTime(this.name, `message:${ev.eventId}`))) return;
    const post = (t: string) => this.opts.platform.postText(ev.thread, t).then(() => undefined);

    await this.guard(post, async () => {
      const run = await this.runs.get(runId);
      if (!run) return;
      const reply = parseThreadReply(ev.text);
      switch (reply.kind) {
        case 'stop':
          return this.cancel(run, ev, post);
        case 'save':
          return this.posts.saveFavourites(run);
        case 'redraw':
          return this.redraw(run, ev, post);
        case 'more':
        case 'steer':
          return this.continueRun(run, ev, reply, post);
        case 'bad-option':
          return post(messages.badOptionMessage(this.f, reply.option, reply.reason));
        default:
          return;
      }
    });
  }

  /** Handles a reaction (or a button standing for one) on a message of the bot. */
  async handleReaction(ev: ReactionEvent): Promise<void> {
    if (!(await this.seen.firstTime(this.name, `reaction:${ev.eventId}`))) return;
    const grid = await this.runs.gridOf(this.name, ev.messageId);
    // a button names its run; ⏹ and 🔁 on any grid of a thread act on its latest run
    const latest = grid && (await this.threads.byThread(this.name, grid.threadId));
    const runId = ev.runId ?? (ev.action.kind === 'sample' ? grid?.runId : latest);
    if (!runId) return;
    const run = await this.runs.get(runId);
    if (!run) return;
    const thread = { channelId: run.channelId, threadId: run.threadId };
    const post = (t: string) =>
      (ev.refuse ?? ((s: string) => this.opts.platform.postText(thread, s)))(t).then(() => {});

    await this.guard(post, async () => {
      const action = ev.action;
      if (action.kind === 'sample' && grid && action.sample <= grid.samples) {
        const change = ev.added ? this.favourites.mark : this.favourites.unmark;
        return change.call(this.favourites, this.name, grid.threadId, action.sample, ev.userId);
      }
      if (!ev.added) return;
      if (action.kind === 'stop') return this.cancel(run, ev, post);
      if (action.kind === 'redraw') return this.redraw(run, ev, post);
    });
  }

  // The requester or an operator stops a queued or running run.
  private async cancel(run: ChatRun, actor: Actor, reply: (t: string) => Promise<void>) {
    if (run.userId !== actor.userId && !isOperator(this.opts.access, actor)) {
      return reply(text.threadMessages.stopOnlyRequester(this.f, run.userName ?? 'the requester'));
    }
    const outcome = await cancelAdaptation(this.opts.queue, this.opts.redis, run.runId);
    logger.info({ runId: run.runId, userId: actor.userId, outcome }, 'stop asked');
    if (outcome === 'removed') {
      await this.posts.endRun(run, 'cancelled');
      await this.posts.showPosition(run, 'ended');
    }
    const key = outcome === 'not-running' ? 'finished' : outcome;
    await this.opts.platform.postText(this.threadOf(run), messages.stopMessages[key]);
  }

  // A number trains more steps from the last checkpoint; text steers toward it from there.
  private async continueRun(
    parent: ChatRun,
    ev: ThreadMessageEvent,
    reply: Extract<ThreadReply, { kind: 'more' | 'steer' }>,
    post: (t: string) => Promise<void>,
  ): Promise<void> {
    const checkpoint = await this.checkpointOf(parent, post);
    if (!checkpoint) return;

    // the same checks as a new command: access, texts and numbers, quota
    const access = accessRefusal(this.opts.access, ev);
    if (access) return post(text.accessMessage(this.f, access));
    const args: NadaArgs =
      reply.kind === 'more'
        ? { prompt: parent.prompt, source: parent.source, steps: reply.steps, seed: parent.seed }
        : {
            prompt: reply.text,
            source: reply.source ?? parent.prompt,
            steps: reply.steps,
            seed: reply.seed ?? parent.seed,
          };
    const checked = validateNadaArgs(args, this.opts.limits);
    if (!checked.ok) return post(messages.problemMessage(this.f, checked.problem));
    const runId = newRunId();
    const quota = await this.quotas.reserve({
      ...this.quotaOf(ev, runId),
      steps: checked.request.steps,
    });
    if (quota) return post(text.quotaMessage(this.f, quota));

    // a new run in the same thread, starting where the parent stopped
    const run = this.newRun(
      runId,
      this.threadOf(parent),
      ev,
      checked.request,
      parent.uploadLimitBytes,
    );
    run.parentRunId = parent.runId;
    run.kind = reply.kind;
    run.startStep = reply.kind === 'more' ? (parent.stepReached ?? 0) : 0;
    await post(text.continuedLine(this.f, run));
    try {
      await this.startJob(
        run,
        reply.kind === 'more' ? { resumeFrom: checkpoint } : { continueFrom: checkpoint },
      );
    } catch (err) {
      await this.quotas.release(this.quotaOf(ev, runId));
      throw err;
    }
  }

  // 🔁: new samples from the thread's latest generator, without training.
  private async redraw(parent: ChatRun, actor: Actor, post: (t: string) => Promise<void>) {
    const checkpoint = await this.checkpointOf(parent, post);
    if (!checkpoint) return;
    const access = accessRefusal(this.opts.access, actor);
    if (access) return post(text.accessMessage(this.f, access));
    const runId = newRunId();
    const quota = await this.quotas.reserve({ ...this.quotaOf(actor, runId), steps: 0 });
    if (quota) return post(text.quotaMessage(this.f, quota));

    const request = { prompt: parent.prompt, source: parent.source, steps: 0, seed: newSeed() };
    const run = this.newRun(runId, this.threadOf(parent), actor, request, parent.uploadLimitBytes);
    Object.assign(run, { kind: 'redraw', parentRunId: parent.runId });
    run.startStep = parent.stepReached ?? 0;
    try {
      await this.startJob(run, { redrawFrom: checkpoint });
    } catch (err) {
      await this.quotas.release(this.quotaOf(actor, runId));
      throw err;
    }
  }

  // The checkpoint a run left, once it has stopped; else says why there is none.
  private async checkpointOf(
    run: ChatRun,
    post: (t: string) => Promise<void>,
  ): Promise<string | undefined> {
    if (run.state === 'queued' || run.state === 'running') {
      await post(text.threadMessages.notFinished);
      return undefined;
    }
    const checkpoint = `${run.runId}/checkpoints/latest.safetensors`;
    if (existsSync(path.join(this.opts.artifactsDir, checkpoint))) return checkpoint;
    await post(text.threadMessages.noCheckpoint);
    return undefined;
  }

  private newRun(
    runId: string,
    thread: ThreadRef,
    actor: Actor,
    request: NadaRequest,
    uploadLimitBytes: number | undefined,
  ): ChatRun {
    return {
      runId,
      platform: this.name,
      ...thread,
      kind: 'new',
      userId: actor.userId,
      userName: actor.userName,
      prompt: request.prompt,
      source: request.source,
      seed: request.seed,
      startStep: 0,
      steps: request.steps,
      uploadLimitBytes: uploadLimitBytes ?? this.opts.platform.maxUploadBytes,
      state: 'queued',
    };
  }

  // Records the run, shows its place in the queue, then queues it (the worker reports how the
  // prompt was understood; `RunPosts` posts that line).
  private async startJob(run: ChatRun, from: StartFrom): Promise<void> {
    const thread = this.threadOf(run);
    await this.runs.create(run);
    // a redraw trains nothing: the thread goes on from the run it drew from
    if (run.kind !== 'redraw')
      await this.threads.save({
        runId: run.runId,
        prompt: run.prompt,
        steps: run.startStep + run.steps,
        platform: run.platform,
        ...thread,
      });
    const line = text.queueLine(await this.posts.queueLength());
    run.positionMessageId = await this.opts.platform.postText(thread, line, {
      stopRunId: run.runId,
    });
    run.positionShown = line;
    await this.runs.update(run.runId, {
      positionMessageId: run.positionMessageId,
      positionShown: line,
    });

    const { position } = await enqueueAdaptation(this.opts.queue, {
      runId: run.runId,
      prompt: run.prompt,
      source: run.source,
      // a redraw trains no step; the job schema still wants a positive count
      steps: Math.max(1, run.steps),
      seed: run.seed,
      outputInterval: this.opts.outputInterval,
      requester: { platform: run.platform, userId: run.userId, name: run.userName?.slice(0, 128) },
      reply: { platform: run.platform, ...thread },
      ...from,
    });
    logger.info({ runId: run.runId, position, kind: run.kind }, 'run queued');
    await this.posts.showPosition(run, position);
  }

  private quotaOf(actor: Actor, runId: string) {
    return { platform: this.name, userId: actor.userId, channelId: actor.channelId, runId };
  }

  private threadOf(run: ChatRun): ThreadRef {
    return { channelId: run.channelId, threadId: run.threadId };
  }

  private async guard(reply: (t: string) => Promise<unknown>, task: () => Promise<unknown>) {
    try {
      await task();
    } catch (err) {
      logger.error({ err }, 'chat event failed');
      await reply(
        'Something went wrong on my side; nothing was started. Please try again in a moment.',
      ).catch((replyErr: unknown) => logger.error({ err: replyErr }, 'could not reply'));
    }
  }
}
