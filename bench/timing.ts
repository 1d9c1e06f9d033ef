import * as tf from '@tensorflow/tfjs-core';

export interface Timing {
  /** median wall time */
  wallMs: number;
  /** median CPU time of this process (user + system): the wall time a machine shared with
   * other busy processes would have given the single-threaded backends on its own */
  cpuMs: number;
}

/** Median times of `reps` runs of `f` after one warm-up run, in milliseconds. */
export async function timeRuns(reps: number, f: () => Promise<void> | void): Promise<Timing> {
  await f();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wallMs: median(wall), cpuMs: median(cpu) };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export interface KernelTime {
  name: string;
  calls: number;
  ms: number;
}

/**
 * Kernel time of one run of `f`, summed by kernel name, slowest first. Kernels are timed in
 * CPU time of this process rather than tfjs's wall-clock timer, so that other busy processes
 * on a shared machine do not land in whichever kernel they interrupt.
 */
export async function kernelBreakdown(
  f: () => void,
): Promise<{ wallMs: number; kernels: KernelTime[] }> {
  const backend = tf.backend() as unknown as { time: (f: () => void) => Promise<unknown> };
  const wallTimer = backend.time;
  backend.time = async (run) => {
    const c0 = process.cpuUsage();
    run();
    const c = process.cpuUsage(c0);
    return { kernelMs: (c.user + c.system) / 1000 };
  };
  const t0 = performance.now();
  try {
    const profile = await tf.profile(f);
    return { wallMs: performance.now() - t0, kernels: sumByName(profile.kernels) };
  } finally {
    backend.time = wallTimer;
  }
}

function sumByName(kernels: { name: string; kernelTimeMs: unknown }[]): KernelTime[] {
  const byName = new Map<string, KernelTime>();
  for (const k of kernels) {
    const entry = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += Number(k.kernelTimeMs);
    byName.set(k.name, entry);
  }
  return [...byName.values()].sort((a, b) => b.ms - a.ms);
}
