import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../config.ts';
import { assertRedisReachable } from '../jobs/connection.ts';
import { logger, setLogLevel, setModelLogLevel } from '../log.ts';
import { startBot } from '../platforms/bot.ts';

const BIN = fileURLToPath(new URL('../../bin/nadabot.js', import.meta.url));

/** `nadabot bot`: serves the chat until SIGINT or SIGTERM. */
export async function botCommand(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  const bot = await startBot(config);
  if (bot.url) process.stdout.write(`nadabot local chat: ${bot.url}\n`);
  onShutdown(() => bot.close());
}

/** `nadabot worker`: takes jobs until SIGINT or SIGTERM, finishing the current step. */
export async function workerCommand(): Promise<void> {
  const config = loadConfig();
  await assertRedisReachable(config.redisUrl);
  await setModelLogLevel(config.logLevel);
  // the worker module loads tfjs and the engine; the bot never does
  const { startNadaWorker } = await import('../../workers/nada-worker.ts');
  const running = await startNadaWorker(config);
  onShutdown(() => running.close());
}

/**
 * `nadabot demo`: the whole stack on one machine. The worker runs as a child process (a
 * training step holds its event loop; the chat stays responsive), the local chat in this one.
 */
export async function demoCommand(): Promise<void> {
  const config = loadConfig();
  setLogLevel(config.logLevel);
  await assertRedisReachable(config.redisUrl);

  const worker = spawnWorker(config);
  const bot = await startBot(config);
  process.stdout.write(`nadabot demo ready: open ${bot.url} and type /nada 日本人女性\n`);

  let stopping = false;
  worker.on('exit', (code, signal) => {
    if (stopping) return;
    logger.error({ code, signal }, 'the worker stopped; stopping the demo');
    void bot.close().finally(() => process.exit(1));
  });
  onShutdown(async () => {
    stopping = true;
    worker.kill('SIGTERM');
    await bot.close();
  });
}

function spawnWorker(config: Config): ChildProcess {
  logger.info({ model: config.modelId }, 'starting the worker');
  return spawn(process.execPath, [BIN, 'worker'], { stdio: 'inherit', env: process.env });
}

// Closes cleanly once on SIGINT/SIGTERM; a second signal exits at once.
function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) process.exit(130);
    closing = true;
    logger.info({ signal }, 'shutting down');
    close()
      .catch((err: unknown) => logger.error({ err }, 'error while shutting down'))
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
