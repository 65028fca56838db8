import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { scoreCodes, smoothedBits } from '../../src/sample/score';
import type { SongCodes } from '../../src/sample/types';
import { useBackend } from '../helpers';
import { fakePrior, Meta, topToken } from './fake-prior';

beforeAll(useBackend);

const metas: Meta[] = [{ id: 0 }, { id: 1 }, { id: 2 }];
/** log p of the favoured token and of any other under logits 3 vs 0 over V columns. */
const hit = (v: number) => 3 - Math.log(Math.exp(3) + v - 1);
const miss = (v: number) => -Math.log(Math.exp(3) + v - 1);

describe('scoring', () => {
  it('scores a song longer than n_ctx window by window, every token once, with labels per window', async () => {
    const prior = fakePrior({ level: 2, nCtx: 32, rawToTokens: 16, condDownsample: null });
    // Item 1 departs from what the prior expects at tokens 50..59.
    const codes = metas.map((m) => Int32Array.from({ length: 100 }, (_, p) => (m.id === 1 && p >= 50 && p < 60 ? (topToken(p, 1, 64) + 1) % 64 : topToken(p, m.id, 64))));
    const before = tf.memory().numTensors;
    const r = await scoreCodes(prior, new Map([[2, codes]]), { metas, logits: true, maxBatchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.windows.map((w) => [w.start, w.scoreFrom, w.scoreTo])).toEqual([[0, 0, 32], [16, 32, 48], [32, 48, 64], [48, 64, 80], [64, 80, 96], [68, 96, 100]]);
    for (const f of prior.forwards) expect(f.z).toEqual(f.items.map((id) => Array.from(codes[id].subarray(f.start, f.start + 32))));
    expect(r.logprob).toHaveLength(300);
    for (let i = 0; i < 3; i++) {
      for (let p = 0; p < 100; p++) expect(r.logprob[i * 100 + p]).toBeCloseTo(i === 1 && p >= 50 && p < 60 ? miss(64) : hit(64), 5);
    }
    expect(r.bitsPerToken).toBeCloseTo(-((290 * hit(64) + 10 * miss(64)) / 300) / Math.LN2, 5);
    expect(r.vocab).toBe(64);
    expect(r.logits).toHaveLength(3 * 100 * 64);
    expect(r.logits![(1 * 100 + 7) * 64 + topToken(7, 1, 64)]).toBe(3);
    expect(r.labelRows!.map((rows) => rows[0][0])).toEqual([0, 16, 32, 48, 64, 68]);
    // Surprise shows the departure.
    const bits = smoothedBits(r.logprob, 3, 100, 5);
    expect(Math.max(...bits[1].subarray(50, 60))).toBeGreaterThan(Math.max(...bits[0]) + 1);
  });

  it('a 1b-style joint vocabulary: music token k at column k + shift, lyric positions first; short songs are padded', async () => {
    const prior = fakePrior({ level: 2, nCtx: 32, rawToTokens: 16, condDownsample: null, shift: 10 });
    const codes = metas.map((m) => Int32Array.from({ length: 20 }, (_, p) => topToken(p, m.id, 64)));
    const r = await scoreCodes(prior, new Map([[2, codes]]), { metas, logits: true });
    expect(r).toMatchObject({ vocab: 74, shift: 10, tokens: 20 });
    for (const lp of r.logprob) expect(lp).toBeCloseTo(hit(74), 5);
    expect(prior.forwards[0].z![0]).toHaveLength(32);
    expect(r.logits![topToken(0, 0, 64) + 10]).toBe(3);
  });

  it('an upsampler is scored with the level above sliced per window', async () => {
    const prior = fakePrior({ level: 1, nCtx: 32, rawToTokens: 4, condDownsample: 4 });
    const z2 = metas.map((m) => Int32Array.from({ length: 25 }, (_, p) => topToken(p, m.id, 64)));
    const z1 = z2.map((row) => Int32Array.from({ length: 100 }, (_, p) => row[Math.floor(p / 4)]));
    const zs: SongCodes = new Map([[2, z2], [1, z1]]);
    const before = tf.memory().numTensors;
    const r = await scoreCodes(prior, zs, { metas });
    expect(tf.memory().numTensors).toBe(before);
    for (const lp of r.logprob) expect(lp).toBeCloseTo(hit(64), 5);
    for (const f of prior.forwards) expect(f.zConds).toEqual(f.items.map((id) => Array.from(z2[id].subarray(f.start / 4, f.start / 4 + 8))));
    // Encoded audio: 101 level-1 tokens over 25 level-2 tokens; the last window starts on a
    // multiple of 4 and runs past the end.
    const odd: SongCodes = new Map([[2, z2], [1, z1.map((r) => Int32Array.from({ length: 101 }, (_, p) => r[Math.min(p, 99)]))]]);
    const o = await scoreCodes(prior, odd, { metas });
    expect(o.windows.at(-1)).toEqual({ start: 72, end: 104, scoreFrom: 96, scoreTo: 101 });
    expect(o.logprob).toHaveLength(3 * 101);
    for (let t = 0; t < 100; t++) expect(o.logprob[t]).toBeCloseTo(hit(64), 5);
    await expect(scoreCodes(prior, new Map([[2, z2.map((r) => r.subarray(0, 20))], [1, z1]]), { metas })).rejects.toThrow(/level 2 holds 20 tokens, fewer than the 25/);
    await expect(scoreCodes(prior, new Map([[1, z1]]), { metas })).rejects.toThrow(/no level 2 codes/);
    await expect(scoreCodes(prior, new Map([[2, z2]]), { metas })).rejects.toThrow(/no level 1 codes to score/);
  });
});
