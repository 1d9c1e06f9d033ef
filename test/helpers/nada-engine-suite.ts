import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isNadaError } from '../../src/errors.ts';
import { selectBackend, type BackendName } from '../../src/models/backend/index.ts';
import { ClipModel, ClipTokenizer } from '../../src/models/clip/index.ts';
import { StyleGan2Generator } from '../../src/models/stylegan2/index.ts';
import { readCheckpoint } from '../../src/nada/checkpoint.ts';
import { runAdaptation } from '../../src/nada/engine.ts';
import type { EngineModels } from '../../src/nada/models.ts';
import type { AdaptOptions, EngineEvent } from '../../src/nada/types.ts';
import { tinyClipConfig } from './tiny-clip.ts';

// runAdaptation end to end on very small random models of the real architectures (16 px
// generator, 16 px CLIP with one layer per tower), so dozens of steps take seconds. The
// bundled demo models are exercised by nada-demo.test.ts. One test file per backend calls
// describeRunAdaptation.

let models: EngineModels;
let root: string;
const logger = pino({ level: 'silent' });

async function setUp(backend: BackendName): Promise<void> {
  const choice = await selectBackend(backend);
  expect(choice.name).toBe(backend);
  root = mkdtempSync(join(tmpdir(), 'nada-engine-'));
  const generator = StyleGan2Generator.random(
    {
      size: 16,
      styleDim: 16,
      nMlp: 2,
      channelMultiplier: 2,
      lrMlp: 0.01,
      channels: { 4: 8, 8: 8, 16: 8 },
    },
    3,
  );
  const clipConfig = tinyClipConfig(16);
  models = {
    id: 'tiny-random',
    defaultSource: 'photo',
    generator,
    clips: [{ name: 'ViT-B/32', weight: 1, model: ClipModel.random(clipConfig, 5) }],
    tokenizer: ClipTokenizer.load(),
  };
}

function options(runId: string, over: Partial<AdaptOptions> = {}): AdaptOptions {
  return {
    target: 'sketch',
    source: 'photo',
    steps: 6,
    seed: 11,
    batch: 2,
    outputInterval: 3,
    nSample: 2,
    runDir: join(root, runId),
    runId,
    autoLayerK: 3,
    autoLayerBatch: 2,
    gridCellPx: 32,
    ...over,
  };
}

async function run(o: AdaptOptions, onEvent?: (e: EngineEvent) => void, signal?: AbortSignal) {
  const events: EngineEvent[] = [];
  const result = await runAdaptation(o, {
    models,
    logger,
    signal,
    onEvent: (e) => {
      events.push(e);
      onEvent?.(e);
    },
  });
  return { result, events };
}

function generatorOf(checkpointPath: string): Map<string, Float32Array> {
  const { generator } = readCheckpoint(checkpointPath);
  return new Map([...generator].map(([k, t]) => [k, t.data as Float32Array]));
}

/** runAdaptation's events, files, resume, continue, cancel and refusals on one backend. */
export function describeRunAdaptation(backend: BackendName): void {
  describe(`runAdaptation on ${backend}`, () => {
    beforeAll(() => setUp(backend));
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it('GIVEN a 6-step run THEN emits events in order, writes grids and checkpoints by step', async () => {
      const { result, events } = await run(options('plain'));
      expect(result.steps).toBe(6);
      expect(result.cancelled).toBe(false);
      expect(result.losses).toHaveLength(6);
      expect(events[0]).toEqual({ type: 'started', runId: 'plain', totalSteps: 6 });
      expect(events.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([
        1, 2, 3, 4, 5, 6,
      ]);
      expect(events.at(-1)).toMatchObject({
        type: 'finished',
        step: 6,
        firstLoss: result.losses[0],
      });

      const grids = readdirSync(join(root, 'plain', 'grids')).sort();
      expect(grids).toEqual(['step-000000.png', 'step-000003.png', 'step-000006.png']);
      expect(result.grids.map((p) => p.split('/').at(-1))).toEqual(grids);
      const checkpoints = readdirSync(join(root, 'plain', 'checkpoints')).sort();
      expect(checkpoints).toEqual([
        'latest.safetensors',
        'step-000003.safetensors',
        'step-000006.safetensors',
      ]);

      const cp = readCheckpoint(result.checkpoint!);
      expect(cp.meta).toMatchObject({
        step: 6,
        seed: 11,
        source: 'photo',
        target: 'sketch',
        chain: [],
      });
      expect(cp.meta.frozenFrom).toEqual({ kind: 'model', id: 'tiny-random' });
      // The stored generator is a whole one: it loads as a model on its own.
      StyleGan2Generator.fromTensors(cp.generator).dispose();
    });

    it('GIVEN N then M steps from a checkpoint THEN the weights equal N + M in one go', async () => {
      const { result: whole } = await run(options('whole'));
      const { result: first } = await run(options('split', { steps: 3 }));
      const { result: rest } = await run(
        options('split', {
          steps: 3,
          resumeFrom: join(root, 'split', 'checkpoints', 'latest.safetensors'),
        }),
      );
      expect(rest.steps).toBe(6);
      expect([...first.losses, ...rest.losses]).toEqual(whole.losses);
      const a = generatorOf(whole.checkpoint!);
      const b = generatorOf(rest.checkpoint!);
      for (const [name, t] of a) expect(b.get(name), name).toEqual(t);
      const adamA = readCheckpoint(whole.checkpoint!).adam;
      const adamB = readCheckpoint(rest.checkpoint!).adam;
      for (const [name, t] of adamA) expect(adamB.get(name)!.data, name).toEqual(t.data);
    });

    it('GIVEN a run resumed from its own checkpoint THEN it reports the loss of its very first step', async () => {
      // pinned by a run whose worker died at step 2: "Done" showed step 3's loss as the first
      const { result: first } = await run(options('first-loss', { steps: 2, outputInterval: 2 }));
      const latest = join(root, 'first-loss', 'checkpoints', 'latest.safetensors');
      expect(readCheckpoint(latest).meta.firstLoss).toBe(first.losses[0]);

      const { result: rest, events } = await run(
        options('first-loss', { steps: 2, outputInterval: 2, resumeFrom: latest }),
      );
      expect(rest.losses[0]).not.toBe(first.losses[0]);
      expect(events.at(-1)).toEqual({
        type: 'finished',
        step: 4,
        firstLoss: first.losses[0],
        lastLoss: rest.losses[1],
      });
      expect(readCheckpoint(rest.checkpoint!).meta.firstLoss).toBe(first.losses[0]);
    });

    it('GIVEN a new run trained further from another run THEN its first loss is its own', async () => {
      const parent = join(root, 'first-loss', 'checkpoints', 'latest.safetensors');
      const { result, events } = await run(
        options('further', { steps: 1, outputInterval: 1, resumeFrom: parent }),
      );
      expect(events.at(-1)).toMatchObject({ type: 'finished', firstLoss: result.losses[0] });
    });

    it('GIVEN a cancel at step 2 THEN saves a checkpoint that resumes to the same end', async () => {
      const controller = new AbortController();
      const { result, events } = await run(
        options('cancel'),
        (e) => {
          if (e.type === 'step' && e.step === 2) controller.abort();
        },
        controller.signal,
      );
      expect(result.cancelled).toBe(true);
      expect(result.steps).toBe(2);
      expect(events.some((e) => e.type === 'checkpoint' && e.step === 2)).toBe(true);
      expect(existsSync(join(root, 'cancel', 'grids', 'step-000002.png'))).toBe(true);

      const { result: resumed } = await run(
        options('cancel', { steps: 4, resumeFrom: result.checkpoint }),
      );
      expect(resumed.steps).toBe(6);
      const whole = generatorOf(join(root, 'whole', 'checkpoints', 'step-000006.safetensors'));
      const again = generatorOf(resumed.checkpoint!);
      for (const [name, t] of whole) expect(again.get(name), name).toEqual(t);
    });

    it('GIVEN a finished run WHEN continued toward a new target THEN its adapted generator is the frozen one', async () => {
      const parent = join(root, 'plain', 'checkpoints', 'latest.safetensors');
      const { result } = await run(
        options('chained', {
          source: 'sketch',
          target: 'watercolor painting',
          steps: 2,
          continueFrom: parent,
        }),
      );
      const cp = readCheckpoint(result.checkpoint!);
      expect(cp.meta.chain).toEqual(['sketch']);
      expect(cp.meta.frozenFrom).toEqual({
        kind: 'checkpoint',
        path: join(root, 'plain', 'checkpoints', 'step-000006.safetensors'),
        step: 6,
      });
      expect(cp.meta.step).toBe(2);
      // A continued run resumes too (its frozen generator is read back from the parent).
      const { result: more } = await run(
        options('chained', { steps: 1, resumeFrom: result.checkpoint }),
      );
      expect(more.steps).toBe(3);
    });

    it('GIVEN 50 steps THEN the tensor count after step 50 equals the one after step 5', async () => {
      const counts = new Map<number, number>();
      await run(options('memory', { steps: 50, outputInterval: 25 }), (e) => {
        if (e.type === 'step' && (e.step === 5 || e.step === 50))
          counts.set(e.step, tf.memory().numTensors);
      });
      expect(counts.get(5)).toBeGreaterThan(0);
      expect(counts.get(50)).toBe(counts.get(5));
    });

    it('GIVEN target equal to source THEN fails with prompt.same_as_source before training', async () => {
      const events: EngineEvent[] = [];
      await expect(
        runAdaptation(options('same', { target: 'Photo' }), {
          models,
          logger,
          onEvent: (e) => void events.push(e),
        }),
      ).rejects.toSatisfy((err) => isNadaError(err, 'prompt.same_as_source'));
      expect(events.map((e) => e.type)).toEqual(['failed']);
      expect(existsSync(join(root, 'same'))).toBe(false);
    });

    it('GIVEN a prompt too long for CLIP THEN trains on a shortened one and says so', async () => {
      const long = Array.from({ length: 70 }, (_, i) => `detail${i}`).join(' ');
      const { events } = await run(options('long', { target: long, steps: 1, outputInterval: 1 }));
      const note = events.find((e) => e.type === 'note');
      expect(note).toMatchObject({ type: 'note', code: 'prompt.shortened' });
      expect(events.at(-1)?.type).toBe('finished');
    });

    it('GIVEN a learning rate that blows up THEN stops with train.non_finite and keeps the last good checkpoint', async () => {
      const events: EngineEvent[] = [];
      const o = options('nan', { lr: 1e30, steps: 5, checkpointInterval: 1, outputInterval: 5 });
      await expect(
        runAdaptation(o, { models, logger, onEvent: (e) => void events.push(e) }),
      ).rejects.toSatisfy((err) => isNadaError(err, 'train.non_finite'));
      const failed = events.find((e) => e.type === 'failed');
      expect(failed).toMatchObject({ code: 'train.non_finite' });
      const saved = events.filter((e) => e.type === 'checkpoint');
      expect(saved.length).toBeGreaterThan(0);
      const last = readCheckpoint(join(root, 'nan', 'checkpoints', 'latest.safetensors'));
      expect(last.meta.step).toBe(saved.at(-1)!.step);
      expect(last.meta.step).toBe(failed!.step);
    });

    it('writes grids that show both generators under a caption', async () => {
      const meta = await sharp(join(root, 'plain', 'grids', 'step-000006.png')).metadata();
      // 96 px label column + 2 cells of 32 px with 4 px gaps; 24 px caption + 2 rows.
      expect(meta.width).toBe(96 + 2 * 36 + 4);
      expect(meta.height).toBe(24 + 2 * 36 + 4);
    });
  });
}
