import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { NadaError } from './errors.ts';
import { LOG_LEVELS } from './log.ts';

// Digits only: z.coerce alone would take "0x50" as port 80 and " 80" as 80.
const port = z
  .string()
  .regex(/^\d+$/, 'must be a whole number from 0 to 65535')
  .transform(Number)
  .pipe(z.number().max(65535));
const positiveInt = z.coerce.number().int().min(1);

// Every setting nadabot reads from the environment, under its variable's name.
const envSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, 'must look like redis://host:port')
    .refine(URL.canParse, 'must look like redis://host:port (it is not a valid URL)')
    .default('redis://127.0.0.1:6379'),
  NADABOT_HOST: z
    .string()
    .regex(/^[\w.:-]+$/, 'must be a host name or an IP address, e.g. 127.0.0.1')
    .default('127.0.0.1'),
  NADABOT_PORT: port.default(8787),
  NADABOT_ARTIFACTS: z.string().min(1).default('./artifacts'),
  NADABOT_LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  NADABOT_MODEL: z
    .string()
    .regex(/^[\w.-]+$/, 'must be a model id such as demo or ffhq')
    .default('demo'),
  NADABOT_BACKEND: z.enum(['tensorflow', 'wasm', 'cpu']).optional(),
  NADABOT_QUEUE: z
    .string()
    .regex(/^[\w-]+$/, 'must be letters, digits, - or _')
    .default('nada'),
  NADABOT_SOURCE: z.string().min(1).default('photo'),
  NADABOT_STEPS: positiveInt.default(40),
  NADABOT_MAX_STEPS: positiveInt.default(1000),
  NADABOT_OUTPUT_INTERVAL: positiveInt.default(10),
  NADABOT_BATCH: positiveInt.max(64).default(2),
  NADABOT_PREVIEW_SAMPLES: positiveInt.max(16).default(2),
  NADABOT_CACHE_DIR: z.string().min(1).optional(),
  NADABOT_TEXT_ENCODERS: z
    .string()
    .refine(existsSync, 'must name an existing JSON file listing multilingual text encoders')
    .optional(),
  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_APP_ID: z.string().min(1).optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
});

type Env = z.infer<typeof envSchema>;

/** nadabot's settings, read once at start-up. */
export interface Config {
  redisUrl: string;
  queueName: string;
  logLevel: Env['NADABOT_LOG_LEVEL'];
  /** absolute path of the artifact store; each run writes into `<artifactsDir>/<runId>/` */
  artifactsDir: string;
  modelId: string;
  backend?: Env['NADABOT_BACKEND'];
  /** caches of computed data (the embedded understood-as lists); default ~/.cache/nadabot */
  cacheDir: string;
  /** a JSON file listing more multilingual text encoders (checked when the worker loads them) */
  textEncodersFile?: string;
  local: { host: string; port: number };
  training: {
    source: string;
    defaultSteps: number;
    maxSteps: number;
    outputInterval: number;
    batch: number;
    previewSamples: number;
  };
  discord?: { token: string; appId?: string };
  slack?: { botToken: string; appToken?: string; signingSecret?: string };
}

/**
 * Reads and checks the configuration from `env`. A bad value throws a NadaError
 * (`config.invalid`) naming the variable, what it must be and what arrived, so the process
 * stops before Redis or a model is touched.
 *
 * @example
 * loadConfig({ NADABOT_PORT: 'abc' });
 * // NadaError: NADABOT_PORT must be a whole number from 0 to 65535, got "abc"
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) throw configError(parsed.error, env);
  const e = parsed.data;

  if (e.NADABOT_STEPS > e.NADABOT_MAX_STEPS) {
    throw new NadaError(
      'config.invalid',
      `NADABOT_STEPS (${e.NADABOT_STEPS}) is above NADABOT_MAX_STEPS (${e.NADABOT_MAX_STEPS}): ` +
        'lower the default or raise the limit',
      { variable: 'NADABOT_STEPS' },
    );
  }
  return toConfig(e);
}

function toConfig(e: Env): Config {
  return {
    redisUrl: e.REDIS_URL,
    queueName: e.NADABOT_QUEUE,
    logLevel: e.NADABOT_LOG_LEVEL,
    artifactsDir: path.resolve(e.NADABOT_ARTIFACTS),
    modelId: e.NADABOT_MODEL,
    backend: e.NADABOT_BACKEND,
    cacheDir: path.resolve(e.NADABOT_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'nadabot')),
    textEncodersFile: e.NADABOT_TEXT_ENCODERS && path.resolve(e.NADABOT_TEXT_ENCODERS),
    local: { host: e.NADABOT_HOST, port: e.NADABOT_PORT },
    training: {
      source: e.NADABOT_SOURCE,
      defaultSteps: e.NADABOT_STEPS,
      maxSteps: e.NADABOT_MAX_STEPS,
      outputInterval: e.NADABOT_OUTPUT_INTERVAL,
      batch: e.NADABOT_BATCH,
      previewSamples: e.NADABOT_PREVIEW_SAMPLES,
    },
    discord: e.DISCORD_TOKEN ? { token: e.DISCORD_TOKEN, appId: e.DISCORD_APP_ID } : undefined,
    slack: e.SLACK_BOT_TOKEN
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          appToken: e.SLACK_APP_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET,
        }
      : undefined,
  };
}

// An exported-but-empty variable (`NADABOT_PORT=`) means "not set", as in most tools.
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value.trim() !== '') out[key] = value;
  }
  return out;
}

function configError(error: z.ZodError, env: NodeJS.ProcessEnv): NadaError {
  const issue = error.issues[0];
  const variable = String(issue.path[0]);
  const message =
    `${variable} ${describeIssue(issue)}, got ${JSON.stringify(env[variable])}: ` +
    'fix or unset it and start again';
  return new NadaError('config.invalid', message, { variable, issues: error.issues });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      return `must be at most ${issue.maximum}`;
    case 'invalid_type':
      return 'must be a whole number';
    default:
      return issue.message;
  }
}
