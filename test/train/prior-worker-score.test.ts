import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomPrior } from '../../src/prior/load';
import { priorPreset } from '../../src/prior/presets';
import { Prior } from '../../src/prior/prior';
import { PriorBatch, priorBatchScore } from '../../src/train/prior-trainer';
import { PriorWorkerPool } from '../../src/train/prior-worker-pool';
import { tensorLeak, useBackend } from '../helpers';

/**
 * A save's held-out scores, computed on the training workers (in parallel, on their heap kernel)
 * or on the main thread: the same numbers up to float32 rounding, from the prior's current weights.
 */
describe('held-out batches scored on the training workers', () => {
  let prior: Prior;
  let pool: PriorWorkerPool;
  const align = { weight: 1, layer: 3, head: 0 };
  const batches: PriorBatch[] = [];

  beforeAll(async () => {
    await useBackend();
    prior = randomPrior(priorPreset('tiny_top'), 3, { labelTables: { artists: new Map([['unknown', 0]]), genres: new Map([['unknown', 0]]) } });
    for (let b = 0; b < 3; b++) {
      const items = 2;
      const meta = Array.from({ length: items }, (_, i) => ({ artist: 'unknown', genre: 'unknown', lyrics: `the sun goes down ${b} and the night comes round ${i}`, totalSeconds: 4, offsetSeconds: i }));
      const y = prior.getY(prior.labeller!.getBatchLabels(meta), 1000)!.y;
      const z = Int32Array.from({ length: items * prior.nCtx }, (_, t) => (t * (7 + b)) % prior.config.l_bins);
      // Every token of the first row targets keys b..b+3; the second row has none (a break).
      const targets = new Uint8Array(items * prior.nCtx * 32);
      for (let t = 0; t < prior.nCtx; t++) targets.fill(1, t * 32 + b, t * 32 + b + 4);
      batches.push({ items, z, zCond: null, y: (await y.data()) as Int32Array, align: b === 2 ? null : { targets, tokensPerRow: prior.nCtx / 2 } });
      y.dispose();
    }
    pool = await PriorWorkerPool.start(prior, 2);
  }, 60_000);

  afterAll(async () => {
    await pool.close();
    prior.dispose();
  });

  const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));

  it('gives each batch the main thread\'s loss terms and alignment sum, and follows the weights it is given', async () => {
    const firstRound: number[] = [];
    for (const round of [0, 1]) {
      if (round === 1) {
        // A step's update: the workers score what the main thread holds after setWeights.
        const name = 'prior.transformer._attn_mods.3.attn.c_attn.w';
        prior.weights.set(name, tf.tidy(() => tf.mul(prior.weights.get(name), 1.5)));
      }
      await pool.setWeights(prior);
      const onWorkers = await Promise.all(batches.map((b, i) => pool.score(i % pool.size, b, align)));
      const here = batches.map((b) => priorBatchScore(prior, b, align));
      onWorkers.forEach((w, i) => {
        close(w.genLoss, here[i].genLoss);
        close(w.primeLoss, here[i].primeLoss);
        close(w.alignSum, here[i].alignSum);
        expect(w.alignTokens).toBe(here[i].alignTokens);
      });
      expect(here[0].genLoss).toBeGreaterThan(1);
      expect(here.map((s) => s.alignTokens)).toEqual([64, 64, 0]);
      expect(here[0].alignSum).toBeGreaterThan(0);
      // The changed weights changed the scores (so the workers' equal ones are the new weights').
      if (round === 0) firstRound.push(...here.map((s) => s.alignSum));
      else expect(Math.abs(here[0].alignSum - firstRound[0])).toBeGreaterThan(1e-3);
    }
  }, 60_000);

  it('leaves no tensor behind on the main thread', async () => {
    expect(await tensorLeak(() => priorBatchScore(prior, batches[0], align))).toBe(0);
  });
});
