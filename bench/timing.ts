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

/** Kernel time of one run of `f`, summed by kernel name, slowest first. */
export async function kernelBreakdown(
  f: () => void,
): Promise<{ wallMs: number; kernels: KernelTime[] }> {
  const t0 = performance.now();
  const profile = await tf.profile(f);
  const wallMs = performance.now() - t0;
  const byName = new Map<string, KernelTime>();
  for (const k of profile.kernels) {
    const entry = byName.get(k.name) ?? { name: k.name, calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += Number(k.kernelTimeMs);
    byName.set(k.name, entry);
  }
  const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
  return { wallMs, kernels };
}
