import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { loadPrior } from '../../src/prior/load';
import { PRIOR_RUN_FILES, PriorRunMetrics, trainPrior } from '../../src/train/prior-run';
import { useTrainingSet } from './helpers';

const set = useTrainingSet();
const { dir } = set;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.each([['tiny_top', 60], ['tiny_upsampler', 40]] as const)('training %s on a small generated set', (preset, steps) => {
  let metrics: PriorRunMetrics[];
  const out = path.join(dir, `run-${preset}`);

  it('bits per token fall (train and held-out), and nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const r = await trainPrior({
      outDir: out, steps, data: set.data, vqvae: set.vqvae, preset, seed: 1, batchSize: 4, saveEvery: 20,
      // A higher rate and shorter warm-up than the reference's, for a run of tens of steps.
      train: { lr: 3e-3, lr_warmup: 10 },
      warn: () => undefined,
    });
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    metrics = r.metrics;
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: steps }, (_, i) => i));
    const first = mean(metrics.slice(0, 10).map((m) => m.bpd));
    const last = mean(metrics.slice(-10).map((m) => m.bpd));
    const heldOut = metrics.filter((m) => m.heldout_bpd !== undefined).map((m) => m.heldout_bpd!);
    console.log(`${preset}: bits per token ${first.toFixed(2)} -> ${last.toFixed(2)}; held-out at each save ${heldOut.map((b) => b.toFixed(2)).join(', ')}`);
    expect(last).toBeLessThan(first / 2);
    expect(heldOut).toHaveLength(steps / 20);
    expect(heldOut[heldOut.length - 1]).toBeLessThan(heldOut[0]);
    // Better than a uniform guess over the 64 codes.
    expect(heldOut[heldOut.length - 1]).toBeLessThan(6);
    if (preset === 'tiny_top') expect(mean(metrics.slice(-10).map((m) => m.prime_loss))).toBeLessThan(mean(metrics.slice(0, 10).map((m) => m.prime_loss)));
  }, 120_000);

  it('writes a prior that loads with the data\'s label tables, and a JSONL log', () => {
    const { model, metadata } = loadPrior(path.join(out, PRIOR_RUN_FILES.model));
    expect(metadata.step).toBe(String(steps));
    const tables = model.labeller!.tables!;
    expect([...tables.artists.keys()].sort()).toEqual(['marco_ferro', 'nora_quill', 'the_synthetic_strings', 'unknown']);
    expect([...tables.genres.keys()].sort()).toEqual(['blues', 'folk', 'jazz', 'rock', 'unknown']);
    model.dispose();
    const lines = fs.readFileSync(path.join(out, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual(metrics.map((m) => m.step));
    expect(Object.keys(lines[steps - 1])).toEqual(expect.arrayContaining(['loss', 'bpd', 'prime_loss', 'gn', 'lr', 'heldout_bpd']));
  });
});

