import { pino, type Logger } from 'pino';

/** Log levels nadabot accepts, from the most to the least verbose. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The one structured logger of the process. Lines carry `jobId`, `runId`, `step`, `loss`,
 * `msPerStep` where they apply; use `logger.child({ jobId })` to attach them.
 * The level comes from `NADABOT_LOG_LEVEL` (read here too, so a module that logs before the
 * configuration is loaded still honours it); `setLogLevel` changes it later.
 */
export const logger: Logger = pino({
  name: 'nadabot',
  level: initialLevel(process.env.NADABOT_LOG_LEVEL),
});

function initialLevel(value: string | undefined): LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'info';
}

/** Sets the level of the nadabot logger (bot processes, which load no tensor library). */
export function setLogLevel(level: LogLevel): void {
  logger.level = level;
}

/**
 * Sets the nadabot logger's level and the verbosity of tfjs and onnxruntime to match, so
 * one setting quiets or opens every part. Processes that run models (the worker,
 * `nadabot adapt`) call this once at start.
 */
export async function setModelLogLevel(level: LogLevel): Promise<void> {
  setLogLevel(level);

  // tfjs has one switch: DEBUG logs every kernel call with timings, too much below trace.
  const tf = await import('@tensorflow/tfjs-core');
  tf.env().set('DEBUG', level === 'trace');
  // PROD silences tfjs's console warnings (the pure-JS backend's "install tfjs-node" banner
  // among them); the worker logs the backend it chose and why, at info.
  tf.env().set('PROD', level !== 'trace' && level !== 'debug');

  // onnxruntime has a severity scale of its own; map pino's levels onto it.
  const ortLevels = { trace: 'verbose', debug: 'info', info: 'warning', warn: 'warning' } as const;
  const ortLevel = ortLevels[level as keyof typeof ortLevels] ?? 'error';
  try {
    const ort = await import('onnxruntime-node');
    ort.env.logLevel = ortLevel;
  } catch {
    // onnxruntime-node is optional at run time: without it there is nothing to quiet.
  }
}
