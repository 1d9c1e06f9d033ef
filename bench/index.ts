import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { runBackend } from './run-backend.ts';

/**
 * `npm run bench [-- --backends wasm,cpu --reps 5]`: times the golden tiny generator, CLIP and
 * NADA step on each backend, each in its own process (tfjs keeps one backend's state per
 * process). Prints figures and asserts nothing.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const reps = Number(option('reps', '5'));
  if (process.env.NADABOT_BENCH_CHILD) return runBackend(reps);

  const backends = option('backends', 'tensorflow,wasm,cpu').split(',');
  for (const name of backends) {
    // The pure-JS backend takes seconds per step: fewer repetitions.
    const childReps = name === 'cpu' ? Math.min(reps, 2) : reps;
    const run = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--reps', String(childReps)],
      {
        stdio: 'inherit',
        env: { ...process.env, NADABOT_BACKEND: name, NADABOT_BENCH_CHILD: '1' },
      },
    );
    if (run.status !== 0) console.log(`\n== ${name}: not measured (exit ${run.status})`);
  }
}

await main();
