import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { validatePriorConfig } from '../../src/prior/config';
import { randomPrior } from '../../src/prior/load';
import { Prior } from '../../src/prior/prior';
import { Rng } from '../../src/rng';
import { priorLossAndGrads } from '../../src/train/prior-trainer';
import { tensorLeak, useBackend } from '../helpers';

/**
 * Gradients of the attention kinds the parity fixtures do not cover (dense, column, summary and
 * summary spread attention: attn_orders 0, 1, 4 and 5; 2, which they cover, as a control),
 * checked against central finite differences of the loss along a random unit direction in every
 * parameter at once.
 */

beforeAll(useBackend);

function tinyPrior(attnOrder: number): Prior {
  return randomPrior(validatePriorConfig({
    sr: 22050, levels: 3, downs_t: [2, 1, 1], strides_t: [2, 2, 2], l_bins: 16, level: 2, labels: false,
    n_ctx: 32, prior_width: 16, prior_depth: 2, heads: 2, attn_order: attnOrder, blocks: 4, spread: 2,
  }), 3);
}

describe.each([0, 1, 2, 4, 5])('attn_order %i', (attnOrder) => {
  it('the loss changes along a direction as the gradient says', async () => {
    const prior = tinyPrior(attnOrder);
    const rng = new Rng(attnOrder);
    const z = tf.tensor2d(Int32Array.from({ length: 2 * 32 }, () => rng.int(16)), [2, 32], 'int32');
    const names = [...prior.spec.keys()];
    const leak = await tensorLeak(() => {
      const { grads } = priorLossAndGrads(prior, z, {});
      // A random direction of unit length over all parameters together.
      const raw = names.map((n) => tf.randomNormal(prior.weights.get(n).shape, 0, 1, 'float32', rng.int(1e9)));
      const norm = Math.sqrt(raw.reduce((acc, t) => acc + tf.tidy(() => tf.sum(tf.square(t)).dataSync()[0]), 0));
      const direction = new Map(names.map((n, i) => [n, tf.div(raw[i], norm)]));
      tf.dispose(raw);
      const predicted = names.reduce((acc, n) => acc + tf.tidy(() => tf.sum(tf.mul(grads.get(n)!, direction.get(n)!)).dataSync()[0]), 0);
      const original = new Map(names.map((n) => [n, tf.keep(prior.weights.get(n).clone())]));
      const lossAt = (eps: number) => {
        for (const n of names) prior.weights.set(n, tf.tidy(() => tf.add(original.get(n)!, tf.mul(direction.get(n)!, eps))));
        return prior.forward(z, {}).loss;
      };
      const eps = 1e-2;
      const measured = (lossAt(eps) - lossAt(-eps)) / (2 * eps);
      for (const n of names) prior.weights.set(n, original.get(n)!);
      console.log(`attn_order ${attnOrder}: directional derivative ${predicted.toFixed(4)} (gradient) vs ${measured.toFixed(4)} (finite differences)`);
      expect(Math.abs(predicted - measured)).toBeLessThan(0.02 * Math.abs(predicted) + 1e-3);
      tf.dispose([...grads.values(), ...direction.values()]);
    });
    expect(leak).toBe(0);
    z.dispose();
    prior.dispose();
  });
});
