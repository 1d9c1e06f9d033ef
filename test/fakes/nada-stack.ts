import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { AccessPolicy } from '../../src/chat/access.ts';
import type { QuotaLimits } from '../../src/chat/quotas.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import type { ChatRuntimeSettings } from '../../src/platforms/chat-runtime.ts';
import { freshQueueName, startTestRedis, type TestRedis } from '../helpers/redis.ts';

/** Redis, a fresh queue, an artifact folder and (on demand) the real worker with `demo`. */
export interface NadaStack {
  redis: TestRedis;
  /** a plain client for the test's own looks into Redis */
  client: Redis;
  config: Config;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  /** settings for a bot of this stack; `overrides` change access and quotas */
  runtime(overrides?: {
    access?: Partial<AccessPolicy>;
    quotas?: Partial<QuotaLimits>;
  }): ChatRuntimeSettings;
  stop(): Promise<void>;
}

/** Starts the shared parts; the worker trains `demo` at batch 1, a grid every step. */
export async function startNadaStack(label: string): Promise<NadaStack> {
  const redis = await startTestRedis();
  const artifactsDir = await mkdtemp(path.join(tmpdir(), `nadabot-${label}-`));
  const config = loadConfig({
    REDIS_URL: redis.url,
    NADABOT_QUEUE: freshQueueName(label),
    NADABOT_ARTIFACTS: artifactsDir,
    NADABOT_MODEL: 'demo',
    NADABOT_STEPS: '1',
    NADABOT_MAX_STEPS: '20',
    NADABOT_OUTPUT_INTERVAL: '1',
    NADABOT_BATCH: '1',
    NADABOT_PREVIEW_SAMPLES: '3',
    NADABOT_LOG_LEVEL: process.env.NADABOT_LOG_LEVEL ?? 'warn',
  });
  const client = new Redis(redis.url);
  let worker: { close(): Promise<void> } | undefined;

  return {
    redis,
    client,
    config,
    startWorker: async () => {
      // imported here: test files that need no worker never load tfjs
      const { startNadaWorker } = await import('../../workers/nada-worker.ts');
      worker = await startNadaWorker(config);
    },
    stopWorker: async () => {
      await worker?.close();
      worker = undefined;
    },
    runtime: (overrides = {}) => ({
      redisUrl: redis.url,
      queueName: config.queueName,
      artifactsDir: config.artifactsDir,
      limits: {
        defaultSource: config.training.source,
        defaultSteps: config.training.defaultSteps,
        maxSteps: config.training.maxSteps,
      },
      outputInterval: config.training.outputInterval,
      access: {
        allowedChannels: [],
        allowedRoles: [],
        operators: [],
        operatorRoles: [],
        ...overrides.access,
      },
      quotas: {
        maxRunsPerUser: 0,
        maxRunsPerChannel: 0,
        dailyStepsPerUser: 0,
        ...overrides.quotas,
      },
    }),
    stop: async () => {
      await worker?.close();
      client.disconnect();
      await redis.stop();
      await rm(artifactsDir, { recursive: true, force: true });
    },
  };
}
