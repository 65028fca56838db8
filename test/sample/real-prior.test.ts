import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVQVAE } from '../../src/checkpoint/load';
import { randomPrior } from '../../src/prior/load';
import type { Prior } from '../../src/prior/prior';
import { Rng } from '../../src/rng';
import { CoComposer } from '../../src/sample/co-compose';
import { ancestralSample, primedSample, songSamples, upsampleCodes } from '../../src/sample/modes';
import { defaultLevelSettings, extendLevel, sampleLevels } from '../../src/sample/sampler';
import { scoreCodes } from '../../src/sample/score';
import type { LevelSettings, SongCodes } from '../../src/sample/types';
import { arraySource } from '../../src/audio';
import { musicLike, useBackend } from '../helpers';
import { TINY_TOP, tinyUpsampler } from './tiny-priors';

const ZIP = path.join(__dirname, '..', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');
let top: Prior;
let up1: Prior;
let up0: Prior;
const metas = [0, 1].map((i) => ({ artistId: i + 1, genreId: 2, lyrics: i === 0 ? 'la la la, a song' : 'another song here', totalSeconds: 1, offsetSeconds: 0 }));
const greedy = (p: Prior): LevelSettings => ({ ...defaultLevelSettings(p), topK: 1, temperature: 1 });

beforeAll(async () => {
  await useBackend();
  top = randomPrior(TINY_TOP, 1);
  up1 = randomPrior(tinyUpsampler(1), 2);
  up0 = randomPrior(tinyUpsampler(0), 3);
});
afterAll(() => [top, up1, up0].forEach((p) => p.dispose()));

describe('sampling with real (tiny, random) priors', () => {
  it('ancestral sampling of all three levels over 3+ windows each leaks no tensor', async () => {
    const before = tf.memory().numTensors;
    const windows = new Map<number, number>();
    expect(songSamples([top, up1, up0], (40 * 16) / top.sampleRate)).toBe(40 * 16);
    const zs = await ancestralSample([top, up1, up0], { metas, seconds: (40 * 16) / top.sampleRate, rng: new Rng(1), onProgress: (p) => windows.set(p.level, p.windows) });
    expect(tf.memory().numTensors).toBe(before);
    expect([...windows]).toEqual([[2, 3], [1, 4], [0, 9]]);
    expect([2, 1, 0].map((l) => [zs.get(l)!.length, zs.get(l)![0].length])).toEqual([[2, 40], [2, 80], [2, 160]]);
    for (const rows of zs.values()) for (const r of rows) expect(r.every((c) => c >= 0 && c < 64)).toBe(true);
  });

  it('greedy: one window of 32 equals 16 then 16 more continued (the KV cache primes exactly)', async () => {
    const one: SongCodes = new Map();
    await extendLevel(top, one, 32, { metas, settings: greedy(top), rng: new Rng(0) });
    const two: SongCodes = new Map();
    await extendLevel(top, two, 16, { metas, settings: greedy(top), rng: new Rng(0) });
    await extendLevel(top, two, 16, { metas, settings: greedy(top), rng: new Rng(0) });
    expect(two.get(2)!.map((r) => Array.from(r))).toEqual(one.get(2)!.map((r) => Array.from(r)));
    // Items differ (their labels and lyrics differ), so per-item labels reach the model.
    expect(Array.from(one.get(2)![0])).not.toEqual(Array.from(one.get(2)![1]));
  });

  it('greedy upsampling: a later window equals a direct prior.sample on the slices it should get', async () => {
    const z2: SongCodes = new Map([[2, metas.map((_, i) => Int32Array.from({ length: 40 }, (_, p) => (p * 5 + i * 11) % 64))]]);
    const settings = new Map([[1, greedy(up1)]]);
    const zs = await sampleLevels([up1], z2, 40 * 16, { metas, settings, rng: new Rng(0) });
    const z1 = zs.get(1)!;
    // Window 3 of level 1 starts at 32 (hop 16): context [32, 48), new tokens [48, 64), level 2 [16, 32).
    const ctx = tf.tensor2d(z1.flatMap((r) => Array.from(r.subarray(32, 48))), [2, 16], 'int32');
    const cond = tf.tensor2d(z2.get(2)!.flatMap((r) => Array.from(r.subarray(16, 32))), [2, 16], 'int32');
    const label = up1.getY(up1.labeller!.getBatchLabels(metas), 32)!;
    const out = await up1.sample({ nSamples: 2, z: ctx, zConds: [cond], y: label.y, topK: 1, temperature: 1, rng: new Rng(0), sampleTokens: 32, chunkSize: 32 });
    const direct = out.arraySync() as number[][];
    tf.dispose([ctx, cond, label.y, out]);
    for (let i = 0; i < 2; i++) expect(direct[i].slice(16)).toEqual(Array.from(z1[i].subarray(48, 64)));
  });

  it('scores greedy samples as the most likely token at every position, with logits to match; no leaks', async () => {
    const zs: SongCodes = new Map();
    await extendLevel(top, zs, 32, { metas, settings: greedy(top), rng: new Rng(0) });
    const before = tf.memory().numTensors;
    const r = await scoreCodes(top, zs, { metas, logits: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(r).toMatchObject({ items: 2, tokens: 32, vocab: 64, shift: 0 });
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < 32; t++) {
        const row = r.logits!.subarray((i * 32 + t) * 64, (i * 32 + t + 1) * 64);
        const best = row.indexOf(Math.max(...row));
        expect(zs.get(2)![i][t]).toBe(best);
        const lse = Math.log(row.reduce((s, v) => s + Math.exp(v - row[best]), 0)) + row[best];
        expect(r.logprob[i * 32 + t]).toBeCloseTo(row[best] - lse, 4);
      }
    }
  });

  it('a 1b-style joint vocabulary: music token k scores at column k + n_vocab of the logits', async () => {
    const joint = randomPrior({ ...TINY_TOP, labels_v3: true, max_bow_genre_size: 1, n_vocab: 79, single_enc_dec: true, attn_order: 12, prior_depth: 3, blocks: 5 }, 6);
    try {
      const zs: SongCodes = new Map([[2, metas.map((_, i) => Int32Array.from({ length: 40 }, (_, p) => (p * 3 + i) % 64))]]);
      const before = tf.memory().numTensors;
      const r = await scoreCodes(joint, zs, { metas, logits: true });
      expect(tf.memory().numTensors).toBe(before);
      expect(r).toMatchObject({ vocab: 79 + 64, shift: 79, tokens: 40 });
      for (const [i, t] of [[0, 0], [1, 17], [1, 39]]) {
        const row = r.logits!.subarray((i * 40 + t) * 143, (i * 40 + t + 1) * 143);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
        expect(r.logprob[i * 40 + t]).toBeCloseTo(row[79 + zs.get(2)![i][t]] - lse, 4);
      }
      // The first window's logits are the forward pass's outputs after the 8 lyric positions.
      const z = tf.tensor2d(zs.get(2)!.flatMap((row) => Array.from(row.subarray(0, 32))), [2, 32], 'int32');
      const label = joint.getY(joint.labeller!.getBatchLabels(metas), 0)!;
      const { preds } = joint.forward(z, { y: label.y, getPreds: true });
      expect(preds!.shape).toEqual([2, 8 + 32, 143]);
      const want = preds!.slice([1, 8 + 5, 0], [1, 1, 143]).dataSync();
      tf.dispose([z, label.y, preds!]);
      expect(Array.from(r.logits!.subarray((40 + 5) * 143, (40 + 6) * 143))).toEqual(Array.from(want));
    } finally {
      joint.dispose();
    }
  });

  it('primed sampling keeps the encoded prompt; upsampling and co-composition run without leaks', async () => {
    const { model: vqvae } = loadVQVAE(ZIP);
    try {
      const before = tf.memory().numTensors;
      const prompt = arraySource(musicLike(24 * 16 + 5, 22050, 3), 22050);
      const zs = await primedSample([top, up1], vqvae, prompt, { metas, seconds: (40 * 16) / top.sampleRate, rng: new Rng(2) });
      const x = tf.tensor3d(prompt.read(0, 24 * 16), [1, 24 * 16, 1]);
      const codes = vqvae.encode(x, [2, 1]);
      const encoded = codes.map((t) => Array.from(t.dataSync()));
      tf.dispose([x, ...codes]);
      expect(Array.from(zs.get(2)![1].subarray(0, 24))).toEqual(encoded[0]);
      expect(Array.from(zs.get(1)![0].subarray(0, 48))).toEqual(encoded[1]);
      expect(zs.get(1)![0]).toHaveLength(80);
      const upsampled = await upsampleCodes([up1, up0], zs, { metas, rng: new Rng(3), take: 1, topRawToTokens: 16 });
      expect(Array.from(upsampled.get(2)![0])).toEqual(Array.from(zs.get(2)![1]));
      expect(upsampled.get(0)![1]).toHaveLength(160);
      const c = new CoComposer(top, metas, { sampleRate: 22050, rng: new Rng(4) });
      await c.extend(0.01); // 13.8 tokens → 16 (one chunk)
      c.pick(1);
      await c.extend(0.02); // 27.6 → 32: past the context, so the window slides
      expect(c.tokens).toBe(48);
      expect(Array.from(c.codes.get(2)![0].subarray(0, 16))).toEqual(Array.from(c.codes.get(2)![1].subarray(0, 16)));
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      vqvae.dispose();
    }
  });
});
