import * as tf from '@tensorflow/tfjs-core';

import { NadaError } from '../errors.ts';
import type { RawTensor } from '../models/weights/safetensors.ts';

/** Adam hyper-parameters, named as torch names them. */
export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * The optimiser settings of NADA's `train.py`: the generator optimiser of StyleGAN2 training
 * with lazy regularisation every `gRegEvery` = 4 steps, so lr·4/5 and betas raised to 4/5.
 *
 * @example
 * nadaAdamConfig(0.002); // { lr: 0.0016, beta1: 0, beta2: 0.99199…, eps: 1e-8 }
 */
export function nadaAdamConfig(lr: number, gRegEvery = 4): AdamConfig {
  const ratio = gRegEvery / (gRegEvery + 1);
  return { lr: lr * ratio, beta1: 0 ** ratio, beta2: 0.99 ** ratio, eps: 1e-8 };
}

interface ParamState {
  step: number;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
}

/**
 * torch.optim.Adam (single-tensor path, no weight decay, no amsgrad) over a fixed set of
 * variables. A variable missing from the gradients of a step gets a zero gradient: its step
 * counter and second moment still advance, as with torch 1's `zero_grad()` (see the golden
 * README: NADA steps every synthesis parameter every iteration).
 */
export class Adam {
  readonly config: AdamConfig;
  private readonly params: Map<string, tf.Variable>;
  private readonly state = new Map<string, ParamState>();

  constructor(config: AdamConfig, params: Map<string, tf.Variable>) {
    this.config = config;
    this.params = params;
    for (const [name, p] of params) {
      this.state.set(name, {
        step: 0,
        expAvg: tf.keep(tf.zerosLike(p)),
        expAvgSq: tf.keep(tf.zerosLike(p)),
      });
    }
  }

  /** Names of the variables this optimiser steps, in insertion order. */
  get names(): string[] {
    return [...this.params.keys()];
  }

  /** Step count of one variable (torch's `state[p]['step']`). */
  stepCount(name: string): number {
    return this.requireState(name).step;
  }

  /** One optimiser step; `grads` maps variable names to dL/dp, absent means zero. */
  step(grads: Map<string, tf.Tensor>): void {
    for (const name of grads.keys()) this.requireState(name);
    for (const [name, p] of this.params) this.stepOne(name, p, grads.get(name) ?? null);
  }

  private stepOne(name: string, p: tf.Variable, grad: tf.Tensor | null): void {
    const { lr, beta1, beta2, eps } = this.config;
    const s = this.requireState(name);
    s.step += 1;
    const biasCorrection1 = 1 - beta1 ** s.step;
    const biasCorrection2 = 1 - beta2 ** s.step;
    const stepSize = lr / biasCorrection1;

    // exp_avg = β1·m + (1−β1)·g ; exp_avg_sq = β2·v + (1−β2)·g²
    const [m, v] = tf.tidy(() => {
      const m1 = grad
        ? tf.add(tf.mul(s.expAvg, beta1), tf.mul(grad, 1 - beta1))
        : tf.mul(s.expAvg, beta1);
      const v1 = grad
        ? tf.add(tf.mul(s.expAvgSq, beta2), tf.mul(tf.square(grad), 1 - beta2))
        : tf.mul(s.expAvgSq, beta2);
      return [m1, v1];
    });
    s.expAvg.dispose();
    s.expAvgSq.dispose();
    s.expAvg = tf.keep(m);
    s.expAvgSq = tf.keep(v);

    // A zero gradient with β1 = 0 leaves m = 0, so the update is exactly zero: skip the math.
    if (!grad && beta1 === 0) return;

    // p −= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps): eps after the corrected root, as torch does.
    tf.tidy(() => {
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(biasCorrection2)), eps);
      p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
    });
  }

  /**
   * The optimiser state as tensors for a checkpoint: `adam.<name>.exp_avg`,
   * `adam.<name>.exp_avg_sq` and `adam.<name>.step` (I32 [1]).
   */
  stateTensors(): Map<string, RawTensor> {
    const out = new Map<string, RawTensor>();
    for (const [name, s] of this.state) {
      out.set(`adam.${name}.exp_avg`, toRaw(s.expAvg));
      out.set(`adam.${name}.exp_avg_sq`, toRaw(s.expAvgSq));
      out.set(`adam.${name}.step`, { dtype: 'I32', shape: [1], data: Int32Array.of(s.step) });
    }
    return out;
  }

  /** Restores state written by `stateTensors`; every optimised variable must be present. */
  loadState(tensors: Map<string, RawTensor>): void {
    for (const [name, p] of this.params) {
      const m = tensors.get(`adam.${name}.exp_avg`);
      const v = tensors.get(`adam.${name}.exp_avg_sq`);
      const step = tensors.get(`adam.${name}.step`);
      if (!m || !v || !step) {
        throw new NadaError(
          'checkpoint.adam_missing',
          `checkpoint has no Adam state for "${name}": it was written by another version or is damaged`,
          { name },
        );
      }
      const s = this.requireState(name);
      s.expAvg.dispose();
      s.expAvgSq.dispose();
      s.expAvg = tf.keep(tf.tensor(m.data, p.shape, 'float32'));
      s.expAvgSq = tf.keep(tf.tensor(v.data, p.shape, 'float32'));
      s.step = step.data[0];
    }
  }

  /** Frees the moment tensors (not the variables, which belong to the generator). */
  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }

  private requireState(name: string): ParamState {
    const s = this.state.get(name);
    if (!s) throw new NadaError('adam.unknown_param', `Adam does not optimise "${name}"`, { name });
    return s;
  }
}

function toRaw(t: tf.Tensor): RawTensor {
  return { dtype: 'F32', shape: [...t.shape], data: (t.dataSync() as Float32Array).slice() };
}
