import type { Job } from 'bullmq';

/**
 * Keeps a running job's lock while training steps hold the event loop. BullMQ renews the
 * lock on a timer, which runs only between steps; with the event loop free it renews at
 * least every `lockMs / 2`, so a step shorter than that keeps the lock. Once a step has taken
 * more than `lockMs / 4`, each later step starts with a lock that outlasts the slowest step
 * seen twice over, and a killed worker's job is free again after `lockMs` plus that.
 * The first step a worker trains is measured, not foreseen: it goes by the plain lock.
 *
 * @example
 * const lock = new StepLock(30_000);
 * lock.stepTook(20_000);
 * lock.neededMs(); // 70000
 */
export class StepLock {
  private slowestMs = 0;

  constructor(private readonly lockMs: number) {}

  /** Remembers how long a training step held the event loop. */
  stepTook(ms: number): void {
    this.slowestMs = Math.max(this.slowestMs, ms);
  }

  /** The lock the next step needs, ms; undefined while BullMQ's renewal is enough. */
  neededMs(): number | undefined {
    if (this.slowestMs <= this.lockMs / 4) return undefined;
    return this.lockMs + 2 * this.slowestMs;
  }

  /**
   * Extends `job`'s lock for the next step when it needs more than the renewal gives. Call it
   * right before the step, once the timers that were due have run: BullMQ's renewal, which
   * sets the lock back to `lockMs`, has then just fired and waits `lockMs / 4` to fire again.
   */
  async beforeStep(job: Job, token: string | undefined): Promise<void> {
    const ms = this.neededMs();
    if (ms === undefined || token === undefined) return;
    await job.extendLock(token, ms);
  }
}
