import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { Adam, nadaAdamConfig } from '../src/nada/adam.ts';
import { clipDirectionalLoss } from '../src/nada/clip-loss.ts';
import { buildClipTerms, fitTexts } from '../src/nada/clip-terms.ts';
import { runAdaptation } from '../src/nada/engine.ts';
import { noiseMaps } from '../src/nada/layer-selection.ts';
import { disposeEngineModels, loadEngineModels, type EngineModels } from '../src/nada/models.ts';
import { SeededRandom } from '../src/nada/random.ts';
import { clipWindow } from '../src/nada/text-direction.ts';
import { synthesisParamNames, trainStep, type Trainer } from '../src/nada/train.ts';

// The bundled demo models (models/demo: the 64 px tiny generator and the 32 px tiny CLIP,
// random weights of the real architectures).

let models: EngineModels;
let root: string;

beforeAll(async () => {
  await selectBackend();
  models = await loadEngineModels('demo');
  root = mkdtempSync(join(tmpdir(), 'nada-demo-'));
});

afterAll(() => {
  disposeEngineModels(models);
  rmSync(root, { recursive: true, force: true });
});

describe('the demo models', () => {
  it('GIVEN seed 1 WHEN training 10 steps photo → sketch THEN the directional loss on a fixed batch goes down', () => {
    // The training loss jumps from step to step (each step draws new latents and noise), so
    // the loss is measured on a fixed batch of 8 latents with fixed, different noise for the
    // two generators. Measured here: 1.016 → 0.901 (seed 1); with other seeds and another
    // fixed batch the drop after 10 steps was 0.10 to 0.13, so the bar below (a drop of 0.05)
    // leaves room for backend rounding.
    const frozen = models.generator;
    const train = frozen.clone();
    const texts = fitTexts('photo', 'sketch', clipWindow(models.tokenizer, 77));
    const terms = buildClipTerms(
      models.clips,
      [{ name: 'ViT-B/32', weight: 1 }],
      texts,
      models.tokenizer,
    );
    const params = new Map(synthesisParamNames(train).map((n) => [n, train.params.get(n)!]));
    const trainer: Trainer = {
      frozen,
      train,
      terms,
      adam: new Adam(nadaAdamConfig(0.002), params),
      random: new SeededRandom(1),
      options: {
        batch: 2,
        autoLayerK: 10,
        autoLayerIters: 0,
        autoLayerBatch: 2,
        trainAllLayers: true,
        lambdaDirection: 1,
        lambdaGlobal: 0,
      },
    };

    const fixed = new SeededRandom(999);
    const z = fixed.normal([8, 64], 0, 'z') as tf.Tensor2D;
    const noiseF = noiseMaps(frozen, fixed, 8, 0, 'frozen');
    const noiseT = noiseMaps(frozen, fixed, 8, 0, 'trainable');
    const evalLoss = (): number =>
      tf.tidy(() => {
        const w = tf.tile(tf.expandDims(frozen.mapping(z), 1), [
          1,
          frozen.nLatent,
          1,
        ]) as tf.Tensor3D;
        const a = frozen.synthesis(w, noiseF);
        const b = train.synthesis(w, noiseT);
        return clipDirectionalLoss(terms[0].model, terms[0].direction, a, b).dataSync()[0];
      });

    const before = evalLoss();
    for (let step = 0; step < 10; step++) trainStep(trainer, step);
    const after = evalLoss();
    console.log(`fixed-batch directional loss: ${before.toFixed(4)} → ${after.toFixed(4)}`);
    expect(after).toBeLessThan(before - 0.05);
    trainer.adam.dispose();
    train.dispose();
  });

  it('runs the demo end to end from the model store', async () => {
    const runDir = join(root, 'demo-run');
    const result = await runAdaptation(
      {
        target: 'sketch',
        source: 'photo',
        steps: 2,
        seed: 3,
        batch: 2,
        outputInterval: 1,
        nSample: 2,
        runDir,
        runId: 'demo-run',
        autoLayerK: 4,
        autoLayerBatch: 2,
      },
      { logger: pino({ level: 'silent' }) },
    );
    expect(result.losses).toHaveLength(2);
    expect(readdirSync(join(runDir, 'grids')).sort()).toEqual([
      'step-000000.png',
      'step-000001.png',
      'step-000002.png',
    ]);
  });
});
