import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/rng';
import { songSamples } from '../../src/sample/modes';
import { codesForBatch, defaultLevelSettings, extendLevel, sampleLevels } from '../../src/sample/sampler';
import type { SampleProgress, SongCodes } from '../../src/sample/types';
import { useBackend } from '../helpers';
import { fakePrior, Meta, topToken } from './fake-prior';

beforeAll(useBackend);

const metas: Meta[] = [{ id: 0 }, { id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }];

/** Top level: 1 token per 16 samples, n_ctx 32; upsampler: 1 per 4 samples, n_ctx 32, 4 per token above. */
function priors() {
  return {
    top: fakePrior({ level: 2, nCtx: 32, rawToTokens: 16, condDownsample: null }),
    up: fakePrior({ level: 1, nCtx: 32, rawToTokens: 4, condDownsample: 4 }),
  };
}

describe('windowed sampling', () => {
  it('samples 3+ windows per level that line up, with the level above sliced per window', async () => {
    const { top, up } = priors();
    const lengthSamples = 16 * 100; // 100 top tokens, 400 level-1 tokens
    const progress: SampleProgress[] = [];
    const settings = new Map([
      [2, { ...defaultLevelSettings(top), hopFraction: 0.5, maxBatchSize: 2 }],
      [1, { ...defaultLevelSettings(up), hopFraction: 0.3 }],
    ]);
    const before = tf.memory().numTensors;
    const zs = await sampleLevels([up, top], new Map(), lengthSamples, { metas, settings, rng: new Rng(1), onProgress: (p) => progress.push(p) });
    expect(tf.memory().numTensors).toBe(before);
    expect(top.errors).toEqual([]);
    expect(up.errors).toEqual([]);

    // The top level: every token where the fake prior put it, so every window continued the last.
    const z2 = zs.get(2)!;
    expect(z2).toHaveLength(5);
    for (const [i, row] of z2.entries()) {
      expect(row).toHaveLength(100);
      expect(Array.from(row)).toEqual(Array.from({ length: 100 }, (_, p) => topToken(p, i, 64)));
    }
    // Windows at 0, 16, ..., 64, 68, each called in batches of at most 2 items (3 calls per window).
    const topStarts = [...new Set(top.calls.map((c) => c.start))];
    expect(topStarts).toEqual([0, 16, 32, 48, 64, 68]);
    expect(top.calls.filter((c) => c.start === 16).map((c) => c.items)).toEqual([[0, 1], [2, 3], [4]]);
    for (const c of top.calls) {
      // The window's context is exactly the tokens already sampled in it.
      expect(c.z === null ? 0 : c.z[0].length).toBe(c.start === 0 ? 0 : c.start === 68 ? 28 : 16);
    }

    // Level 1: hop 0.3 × 32 = 9.6 → 9 → 8 (a multiple of the downsampling 4): windows at multiples of 8.
    const upStarts = [...new Set(up.calls.map((c) => c.start))];
    expect(upStarts.length).toBeGreaterThanOrEqual(3);
    expect(upStarts.every((s) => s % 4 === 0)).toBe(true);
    expect(upStarts.slice(0, 4)).toEqual([0, 8, 16, 24]);
    expect(upStarts.at(-1)).toBe(400 - 32);
    for (const c of up.calls) {
      // The conditioning passed is the level-2 codes of [start / 4, (start + 32) / 4), per item.
      expect(c.zConds).toEqual(c.items.map((id) => Array.from(z2[id].subarray(c.start / 4, (c.start + 32) / 4))));
    }
    // So each level-1 token copies the level-2 token above it, across every window boundary.
    for (const [i, row] of zs.get(1)!.entries()) {
      expect(row).toHaveLength(400);
      expect(Array.from(row)).toEqual(Array.from({ length: 400 }, (_, p) => z2[i][Math.floor(p / 4)]));
    }

    // Progress: level, window k/n, tokens done; finished at both levels.
    const last2 = progress.filter((p) => p.level === 2).at(-1)!;
    expect(last2).toMatchObject({ level: 2, window: 6, windows: 6, done: 100, total: 100 });
    expect(progress.filter((p) => p.level === 1).at(-1)).toMatchObject({ done: 400, total: 400 });
    expect(progress.every((p) => p.done <= p.total && p.window <= p.windows)).toBe(true);
  });

  it('a primed song keeps its prompt and continues from its end; upsampling alone needs a full context', async () => {
    const { top, up } = priors();
    const prompt: SongCodes = new Map([[2, metas.map((m) => Int32Array.from({ length: 40 }, (_, p) => topToken(p, m.id, 64)))]]);
    const zs = await sampleLevels([top], prompt, 16 * 80, { metas, rng: new Rng(2) });
    expect(top.errors).toEqual([]);
    expect(Array.from(zs.get(2)![3])).toEqual(Array.from({ length: 80 }, (_, p) => topToken(p, 3, 64)));
    // Level 2 hops 0.125 × 32 = 4 tokens: the first window with new tokens starts at 12.
    expect(top.calls[0]).toMatchObject({ start: 12, sampleTokens: 32 });
    expect(top.calls[0].z![0]).toHaveLength(28);

    // Level 2 codes of 4 tokens are 16 level-1 tokens: less than one upsampler context.
    const short: SongCodes = new Map([[2, metas.map(() => new Int32Array(4))]]);
    await expect(sampleLevels([up], short, 16 * 4, { metas, rng: new Rng(3) })).rejects.toThrow(/needs at least one context of 32 tokens/);
    // With the top prior too, the short level is refused before the top level samples anything.
    const calls = top.calls.length;
    await expect(sampleLevels([top, up], new Map(), 16 * 4, { metas, rng: new Rng(3) })).rejects.toThrow(/needs at least one context/);
    expect(top.calls.length).toBe(calls);
  });

  it('co-composition: takes, pick one, extend past the context', async () => {
    const { top } = priors();
    const settings = defaultLevelSettings(top);
    const zs: SongCodes = new Map();
    await extendLevel(top, zs, 24, { metas, settings, rng: new Rng(4) });
    expect(zs.get(2)![0]).toHaveLength(24);
    const picked = codesForBatch(zs, 5, [2], 3);
    expect(picked.get(2)!.every((r) => Array.from(r).join() === Array.from(zs.get(2)![3]).join())).toBe(true);
    // Every item is now take 3; its labels still say item i, so the fake's check needs metas of id 3.
    const same = metas.map(() => ({ id: 3 }));
    await extendLevel(top, picked, 16, { metas: same, settings, rng: new Rng(5) });
    expect(top.calls.at(-1)).toMatchObject({ start: 8, sampleTokens: 32 });
    expect(top.errors).toEqual([]);
    expect(Array.from(picked.get(2)![0])).toEqual(Array.from({ length: 40 }, (_, p) => topToken(p, 3, 64)));
  });

  it('song lengths in seconds become whole tokens of the top level sampled', () => {
    const top = fakePrior({ level: 2, nCtx: 32, rawToTokens: 16, condDownsample: null });
    const up = fakePrior({ level: 1, nCtx: 32, rawToTokens: 4, condDownsample: 4 });
    // 640 samples at 16 kHz are 40 top tokens; a length given as tokens / rate keeps all of them.
    expect(songSamples([up, top], 640 / 16000)).toBe(640);
    expect(songSamples([up, top], 0.0405)).toBe(640);
    expect(songSamples([up], 0.0405)).toBe(648);
    expect(() => songSamples([up, top], 0.0005)).toThrow(/a song of 0.0005 s is shorter than one level-2 token \(0.0010 s\)/);
  });

  it('codes for a batch: take K repeated, all items kept, or an error naming the choice', () => {
    const stored: SongCodes = new Map([[2, [Int32Array.of(1, 2, 3), Int32Array.of(4, 5, 6)]], [1, [Int32Array.of(7), Int32Array.of(8)]]]);
    expect(codesForBatch(stored, 3, [2], 1).get(2)!.map((r) => Array.from(r))).toEqual([[4, 5, 6], [4, 5, 6], [4, 5, 6]]);
    expect(codesForBatch(stored, 2, [2, 1], undefined, (l) => (l === 2 ? 2 : 9)).get(2)!.map((r) => Array.from(r))).toEqual([[1, 2], [4, 5]]);
    expect(() => codesForBatch(stored, 3, [2])).toThrow(/hold 2 items but 3 samples/);
    expect(() => codesForBatch(stored, 3, [2], 2)).toThrow(/--take 2: the codes hold items 0\.\.1/);
  });
});
