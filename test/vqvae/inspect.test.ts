import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arraySource } from '../../src/audio';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { randomVQVAE } from '../../src/vqvae/init';
import {
  codeAtom, codebookUsage, codebookUsageOverClips, codeNorms, nearestCodes, pcaProjection, tokenTimeline, topCodesTable, umapProjection, usageTable,
} from '../../src/vqvae/inspect';
import { VQVAE } from '../../src/vqvae/vqvae';
import { musicLike, tensorLeak, useBackend } from '../helpers';

let model: VQVAE;
beforeAll(async () => {
  await useBackend();
  model = randomVQVAE(vqvaePreset('tiny'), 2);
});
afterAll(() => model.dispose());

describe('codebook usage', () => {
  it('counts codes, entropy in bits, perplexity and dead codes', () => {
    // Codes 0..3 equally often over two clips: 2 bits, perplexity 4, 60 of 64 codes dead.
    const u = codebookUsage([Int32Array.from([0, 1, 2, 3, 0, 1]), Int32Array.from([2, 3])], 64, 1);
    expect(u.tokens).toBe(8);
    expect(Array.from(u.counts.subarray(0, 5))).toEqual([2, 2, 2, 2, 0]);
    expect(u.entropyBits).toBeCloseTo(2, 12);
    expect(u.perplexity).toBeCloseTo(4, 10);
    expect(u.deadCodes).toBe(60);
    expect(u.usedFraction).toBeCloseTo(4 / 64);
    // One code only: zero entropy.
    expect(codebookUsage([new Int32Array(10).fill(5)], 64).entropyBits).toBe(0);
  });

  it('encodes clips and reports every level, with tables as DataFrames', async () => {
    const clips = [1, 2].map((seed) => arraySource(musicLike(8192, 22050, seed), 22050));
    const usages = await codebookUsageOverClips(model, clips);
    expect(usages.map((u) => u.tokens)).toEqual([4096, 2048, 1024]);
    usages.forEach((u) => {
      expect(u.counts.reduce((a, b) => a + b, 0)).toBe(u.tokens);
      expect(u.entropyBits).toBeLessThanOrEqual(6);
    });
    const table = usageTable(usages);
    expect(table.columns).toEqual(['level', 'codes', 'used', 'dead', 'entropy_bits', 'max_bits', 'perplexity', 'tokens']);
    expect(table.shape).toEqual([3, 8]);
    expect(table.column('max_bits').values).toEqual([6, 6, 6]);
    const top = topCodesTable(usages[0], 3);
    expect(top.shape).toEqual([3, 3]);
    const counts = top.column('count').values as number[];
    expect(counts[0]).toBeGreaterThanOrEqual(counts[1]);
    expect(counts[0]).toBe(Math.max(...usages[0].counts));
  });
});

describe('code vectors', () => {
  it('PCA finds the directions of largest variance', () => {
    // Points spread 3:1 along axes rotated by 30° in the first two of four dimensions.
    const n = 400;
    const width = 4;
    const v = new Float32Array(n * width);
    const [c, s] = [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6)];
    for (let i = 0; i < n; i++) {
      const a = 3 * Math.sin(i * 1.7);
      const b = Math.cos(i * 2.3);
      v.set([c * a - s * b + 5, s * a + c * b - 2, 0.01 * Math.sin(i), 0], i * width);
    }
    const p = pcaProjection(v, width);
    const variance = (xs: Float32Array) => xs.reduce((acc, x) => acc + x * x, 0) / xs.length;
    expect(variance(p.x) / variance(p.y)).toBeCloseTo(variance(Float32Array.from({ length: n }, (_, i) => 3 * Math.sin(i * 1.7))) / variance(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 2.3))), 2);
    expect(p.explainedVariance![0]).toBeGreaterThan(0.85);
    expect(p.explainedVariance![0] + p.explainedVariance![1]).toBeGreaterThan(0.9999);
    // The first axis recovers the first coordinate up to sign.
    const corr = p.x.reduce((acc, x, i) => acc + x * 3 * Math.sin(i * 1.7), 0);
    expect(Math.abs(corr) / (Math.sqrt(variance(p.x)) * 3 * Math.sqrt(variance(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7)))) * n)).toBeGreaterThan(0.99);
  });

  it('UMAP gives one reproducible point per code', () => {
    const v = model.weights.get('bottleneck.level_blocks.0.k').dataSync() as Float32Array;
    const a = umapProjection(v, 16, { seed: 4 });
    const b = umapProjection(v, 16, { seed: 4 });
    expect(a.x.length).toBe(64);
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(a.x.every(Number.isFinite) && a.y.every(Number.isFinite)).toBe(true);
  });

  it('finds each code\'s nearest neighbours and norms', () => {
    const m = randomVQVAE({ ...vqvaePreset('tiny'), l_bins: 4, emb_width: 2 }, 1);
    m.weights.set('bottleneck.level_blocks.1.k', tf.tensor2d([[0, 0], [1, 0], [3, 0], [7, 0]]));
    const nn = nearestCodes(m, 1, 2);
    expect(nn[0].neighbours.map((x) => x.code)).toEqual([1, 2]);
    expect(nn[0].neighbours.map((x) => x.distance)).toEqual([1, 3]);
    expect(nn[3].neighbours.map((x) => x.code)).toEqual([2, 1]);
    expect(Array.from(codeNorms(m, 1))).toEqual([0, 1, 3, 7]);
    m.dispose();
  });
});

describe('code atoms and timelines', () => {
  it('decodes a run of one code, leaking no tensors', async () => {
    let atom = new Float32Array();
    expect(await tensorLeak(() => (atom = codeAtom(model, 2, 7, 64)))).toBe(0);
    expect(atom.length).toBe(64 * 16);
    expect(atom.some((x) => x !== 0)).toBe(true);
    // The decoder is shift-invariant, so away from the edges (its reach is 179 samples) a run of
    // one code decodes to audio that repeats every hop.
    const reach = model.decoderReach(2).left;
    let worst = 0;
    for (let i = reach + 16; i < atom.length - reach - 32; i++) worst = Math.max(worst, Math.abs(atom[i] - atom[i + 16]));
    expect(worst).toBeLessThan(1e-5);
    expect(() => codeAtom(model, 0, 64)).toThrow(/code 64 is outside the codebook \(0\.\.63\)/);
  });

  it('places tokens in time', () => {
    const t = tokenTimeline(Int32Array.from([3, 3, 9]), 128, 44100);
    expect(Array.from(t.time)).toEqual([0, 128 / 44100, 256 / 44100].map((x) => Math.fround(x)));
    expect(Array.from(t.code)).toEqual([3, 3, 9]);
  });
});
