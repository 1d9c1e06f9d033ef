import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../src/models/backend/index.ts';
import { Adam, nadaAdamConfig } from '../src/nada/adam.ts';

// Expected values were computed by hand from torch.optim.Adam's update (single-tensor path,
// torch 1.7–1.13) in float64:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p −= lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + eps)
// A float32 port agrees to about 1e-7 relative.

beforeAll(async () => {
  await selectBackend();
});

function values(v: tf.Variable): number[] {
  return Array.from(v.dataSync());
}

describe('Adam', () => {
  it('GIVEN classic betas WHEN stepped three times (one with a missing gradient) THEN matches torch', () => {
    const p = tf.variable(tf.tensor1d([1, -2, 0.5]), true, 'p');
    const adam = new Adam({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, new Map([['p', p]]));

    adam.step(new Map([['p', tf.tensor1d([0.5, -1, 0])]]));
    expect(values(p)).toEqual([0.9, -1.9, 0.5].map((x) => expect.closeTo(x, 6)));

    // A missing gradient is a zero gradient: m decays (β1 = 0.9), so p still moves.
    adam.step(new Map());
    const want2 = [0.83299418, -1.83299418, 0.5];
    values(p).forEach((x, i) => expect(x).toBeCloseTo(want2[i], 6));

    adam.step(new Map([['p', tf.tensor1d([0.25, 0.1, -3])]]));
    const want3 = [0.75808449, -1.78781878, 0.56388136];
    values(p).forEach((x, i) => expect(x).toBeCloseTo(want3[i], 6));
    expect(adam.stepCount('p')).toBe(3);
    adam.dispose();
    p.dispose();
  });

  it('GIVEN NADA settings WHEN a parameter first gets a gradient at step 3 THEN its bias correction uses step 3', () => {
    // The torch-1 zero_grad semantics: unchosen parameters are stepped with zero gradient, so
    // their counters advance; a first real update at t = 3 is lr·sqrt(1−β2³)/sqrt(1−β2) ≈ 1.73·lr.
    const p = tf.variable(tf.tensor1d([0.2, 0.4]), true, 'p');
    const adam = new Adam(nadaAdamConfig(0.002), new Map([['p', p]]));
    adam.step(new Map());
    adam.step(new Map());
    expect(values(p)).toEqual([Math.fround(0.2), Math.fround(0.4)]);
    adam.step(new Map([['p', tf.tensor1d([0.003, -0.0002])]]));
    const got = values(p);
    expect(got[0]).toBeCloseTo(0.19723982, 7);
    expect(got[1]).toBeCloseTo(0.40275995, 7);
    adam.dispose();
    p.dispose();
  });

  it('has the optimiser settings of NADA train.py', () => {
    const c = nadaAdamConfig(0.002);
    expect(c.lr).toBeCloseTo(0.0016, 12);
    expect(c.beta1).toBe(0);
    expect(c.beta2).toBeCloseTo(0.99199197, 8);
    expect(c.eps).toBe(1e-8);
  });

  it('GIVEN saved state WHEN loaded into a fresh optimiser THEN the next step is identical', () => {
    const g = (k: number): tf.Tensor =>
      tf.tensor2d([
        [0.1 * k, -0.2],
        [0.05, 0.3 / k],
      ]);
    const config = { lr: 0.01, beta1: 0.5, beta2: 0.99, eps: 1e-8 };

    const a = tf.variable(
      tf.tensor2d([
        [0.3, -0.1],
        [0.7, 2],
      ]),
      true,
    );
    const adamA = new Adam(config, new Map([['w', a]]));
    adamA.step(new Map([['w', g(1)]]));
    adamA.step(new Map([['w', g(2)]]));
    const saved = adamA.stateTensors();
    const b = tf.variable(a.clone(), true);
    adamA.step(new Map([['w', g(3)]]));
    adamA.dispose();

    // A fresh optimiser over a copy of the parameters, restored from the saved state.
    const adamB = new Adam(config, new Map([['w', b]]));
    adamB.loadState(saved);
    expect(adamB.stepCount('w')).toBe(2);
    adamB.step(new Map([['w', g(3)]]));
    expect(values(b)).toEqual(values(a));
    adamB.dispose();
  });

  it('rejects a gradient for a variable it does not optimise', () => {
    const p = tf.variable(tf.scalar(1));
    const adam = new Adam(nadaAdamConfig(0.002), new Map([['p', p]]));
    expect(() => adam.step(new Map([['q', tf.scalar(1)]]))).toThrow(/does not optimise "q"/);
    adam.dispose();
  });

  it('does not leak tensors across steps', () => {
    const p = tf.variable(tf.ones([4, 4]));
    const adam = new Adam(nadaAdamConfig(0.002), new Map([['p', p]]));
    const g = tf.ones([4, 4]);
    adam.step(new Map([['p', g]]));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) adam.step(new Map([['p', g]]));
    adam.step(new Map());
    expect(tf.memory().numTensors).toBe(before);
    adam.dispose();
  });
});
