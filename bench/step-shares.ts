import * as tf from '@tensorflow/tfjs-core';

import { nadaClipLoss } from '../src/nada/clip-loss.ts';
import { determineOptLayers, layerParams, noiseMaps } from '../src/nada/layer-selection.ts';
import type { Trainer } from '../src/nada/train.ts';
import { timeRuns, type Timing } from './timing.ts';

type Phase = [name: string, run: () => void];

/**
 * Where a NADA step's time goes, by part: each part of `trainStep` run on its own with the
 * step's shapes (layer selection, the frozen generator, the training generator's forward and
 * backward, the CLIP loss and its gradient w.r.t. the images). Separately timed parts
 * add up to a little more than the whole step, which shares tidy scopes and caches.
 */
export async function benchStepShares(t: Trainer, reps: number): Promise<void> {
  const { frozen, train, random, options: o } = t;
  const selection = determineOptLayers(frozen, train, t.terms, random, 0, o);
  const variables = layerParams(train, selection.layers).map((n) => train.params.get(n)!);

  // the step's inputs, made once
  const z = random.normal([o.batch, train.config.styleDim], 0, 'z') as tf.Tensor2D;
  const wPlus = tf.tidy(() => {
    const w = frozen.mapping(z); // [batch, styleDim]
    return tf.tile(tf.expandDims(w, 1), [1, train.nLatent, 1]) as tf.Tensor3D;
  });
  const frozenNoise = noiseMaps(frozen, random, o.batch, 0, 'frozen.noise');
  const trainNoise = noiseMaps(train, random, o.batch, 0, 'trainable.noise');
  const frozenImg = frozen.synthesis(wPlus, frozenNoise);
  const trainImg = train.synthesis(wPlus, trainNoise);
  const imgGrad = tf.onesLike(trainImg);

  const phases: Phase[] = [
    ['layer selection', () => void determineOptLayers(frozen, train, t.terms, random, 1, o)],
    ['frozen generator forward', () => tf.tidy(() => void frozen.synthesis(wPlus, frozenNoise))],
    [
      'training generator forward+backward',
      () => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(train.synthesis(wPlus, trainNoise), imgGrad)),
          variables,
        );
        tf.dispose([value, ...Object.values(grads)]);
      },
    ],
    [
      'CLIP loss forward+backward',
      () =>
        tf.tidy(() => {
          const grad = tf.grad((x: tf.Tensor) =>
            nadaClipLoss(t.terms, frozenImg, x as tf.Tensor4D, o),
          );
          grad(trainImg).dataSync();
        }),
    ],
  ];

  const times: [string, Timing][] = [];
  for (const [name, run] of phases) times.push([name, await timeRuns(reps, run)]);
  const total = times.reduce((s, [, x]) => s + x.cpuMs, 0);
  console.log('parts of one NADA step (layer selection on), timed one by one, CPU time:');
  for (const [name, x] of times) {
    const share = ((100 * x.cpuMs) / total).toFixed(1).padStart(5);
    console.log(`  ${name.padEnd(36)} ${(x.cpuMs / 1000).toFixed(3)} s ${share}%`);
  }
  tf.dispose([z, wPlus, frozenImg, trainImg, imgGrad, ...frozenNoise, ...trainNoise]);
}
