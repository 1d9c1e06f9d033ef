import * as tf from '@tensorflow/tfjs-core';

import { isNadaError } from '../src/errors.ts';
import { setModelLogLevel } from '../src/log.ts';
import { selectBackend } from '../src/models/backend/index.ts';
import { nadaPreprocess } from '../src/models/clip/index.ts';
import { trainStep, type Trainer } from '../src/nada/train.ts';
import {
  disposeTrainer,
  loadTinyModels,
  makeTrainer,
  stepOptions,
  type TinyModels,
} from './golden-setup.ts';
import { benchStepShares } from './step-shares.ts';
import { kernelBreakdown, timeRuns, type Timing } from './timing.ts';

const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const fmtT = (t: Timing) => `${fmt(t.wallMs)} wall, ${fmt(t.cpuMs)} cpu`;

/** Generator synthesis at batch 2 from fixed W+, and its gradient w.r.t. every parameter. */
async function benchGenerator(m: TinyModels, reps: number): Promise<void> {
  const g = m.generator;
  const wPlus = tf.randomNormal(
    [2, g.nLatent, g.config.styleDim],
    0,
    1,
    'float32',
    3,
  ) as tf.Tensor3D;
  const forward = await timeRuns(reps, () =>
    tf.tidy(() => void g.synthesis(wPlus, 'const').dataSync()),
  );
  const vars = [...g.params.values()];
  const backward = await timeRuns(reps, () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(g.synthesis(wPlus, 'const')), vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  console.log(`generator forward            ${fmtT(forward)}`);
  console.log(`generator forward+backward   ${fmtT(backward)}  (all ${vars.length} parameters)`);
  wPlus.dispose();
}

/** CLIP image encoder on two preprocessed 64 px images, and its gradient w.r.t. the images. */
async function benchClip(m: TinyModels, reps: number): Promise<void> {
  const res = m.clip.config.imageResolution;
  const images = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
  const encode = (x: tf.Tensor4D) => m.clip.encodeImage(nadaPreprocess(x, res));
  const forward = await timeRuns(reps, () => tf.tidy(() => void encode(images).dataSync()));
  const grad = tf.grad((x: tf.Tensor) => tf.sum(encode(x as tf.Tensor4D)));
  const backward = await timeRuns(reps, () => tf.tidy(() => void grad(images).dataSync()));
  console.log(`CLIP image forward           ${fmtT(forward)}`);
  console.log(`CLIP image forward+backward  ${fmtT(backward)}  (w.r.t. the images)`);
  images.dispose();
}

/** Seconds per NADA training step with and without layer selection; tensors before/after. */
async function benchNada(t: Trainer, reps: number): Promise<void> {
  let step = 0;
  for (const selection of [true, false]) {
    t.options = stepOptions(selection);
    trainStep(t, step++);
    const before = tf.memory().numTensors;
    const ms = await timeRuns(reps, () => void trainStep(t, step++));
    const after = tf.memory().numTensors;
    const label = selection ? 'on ' : 'off';
    console.log(`NADA step, layer selection ${label} ${fmtT(ms)}  (tensors ${before} → ${after})`);
  }
}

/** Where the time of one NADA step with layer selection goes, by kernel. */
async function benchKernels(t: Trainer, top: number): Promise<void> {
  t.options = stepOptions(true);
  const { wallMs, kernels } = await kernelBreakdown(() => void trainStep(t, 1000));
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  console.log(
    `kernels of one NADA step, CPU time (${kernels.reduce((n, k) => n + k.calls, 0)} kernels, ` +
      `profiled wall ${fmt(wallMs)}, kernel sum ${fmt(total)}):`,
  );
  for (const k of kernels.slice(0, top)) {
    const share = ((100 * k.ms) / total).toFixed(1).padStart(5);
    console.log(
      `  ${k.name.padEnd(36)} ${k.ms.toFixed(1).padStart(8)} ms ${share}%  ${k.calls} calls`,
    );
  }
}

/** Runs every measurement on the backend that NADABOT_BACKEND names (or the best one). */
export async function runBackend(reps: number): Promise<void> {
  // the bench prints its own figures: tfjs's and onnxruntime's notices only at debug
  await setModelLogLevel('warn');
  const choice = await selectBackend().catch((err: unknown) => {
    if (!isNadaError(err, 'backend.unavailable')) throw err;
    console.log(`\n== ${process.env.NADABOT_BACKEND}: not available (${err.message})`);
    return undefined;
  });
  if (!choice) return;
  console.log(`\n== ${choice.name}: ${choice.reason}`);
  const startTensors = tf.memory().numTensors;
  const models = loadTinyModels();
  await benchGenerator(models, reps);
  await benchClip(models, reps);
  const trainer = makeTrainer(models, true);
  await benchNada(trainer, reps);
  trainer.options = stepOptions(true);
  await benchStepShares(trainer, reps);
  await benchKernels(trainer, 14);
  const loaded = tf.memory().numTensors;
  disposeTrainer(trainer);
  models.generator.dispose();
  models.clip.dispose();
  console.log(
    `tensors: ${startTensors} at start, ${loaded} with the models and trainer loaded, ` +
      `${tf.memory().numTensors} after freeing them`,
  );
}
