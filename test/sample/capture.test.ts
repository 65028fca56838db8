import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLyricAttention, headKey, lyricLayers, type LyricAttention } from '../../src/align/capture';
import type { SongMetadata } from '../../src/labels';
import { FastSampler } from '../../src/prior/fast/sampler';
import { loadPrior, randomPrior } from '../../src/prior/load';
import { priorPreset } from '../../src/prior/presets';
import { Prior } from '../../src/prior/prior';
import { Rng } from '../../src/rng';
import { SampledLyricAttention } from '../../src';
import { ancestralSample } from '../../src/sample/modes';
import { sampleLevel } from '../../src/sample/sampler';
import type { LevelSettings, SongCodes } from '../../src/sample/types';
import { useBackend } from '../helpers';
import { jukeboxErrorOf, METAS, TINY, windowInputs } from '../prior/helpers';

/**
 * Lyric attention captured while sampling (Prior.sampleWithAttention, SampledLyricAttention)
 * against the teacher-forced capture over the tokens sampled (Prior.forward's recordAttention,
 * captureLyricAttention), on the fast path and the tfjs path, for the 5b_lyrics design
 * (encoder-decoder layers) and the 1b_lyrics design (prime layers, sliced to music queries ×
 * lyric keys), one window and several stitched; the tokens unchanged by capturing; no tensor
 * left behind.
 *
 * Bounds: on the cpu backend the tfjs path's capture is bit-identical to the teacher-forced one
 * (asserted: the same probabilities, not merely close ones). Elsewhere the two differ by float32
 * rounding in another summation order, which the test priors' sharp random attention (3×
 * query/key projections, 16-19 layers; see randomPrior and test/prior/fast-sampling.test.ts)
 * amplifies along the sequence: on these songs the teacher-forced capture itself differs between
 * tfjs's wasm and cpu backends by up to 9.5e-5 (top_5b_like), 5.3e-4 (top_1b_like) and 2.1e-5
 * (tiny_top), so no float32 path summing in another order can match it within 1e-5 there.
 */

const DIR = path.join(__dirname, '..', 'fixtures', 'prior');
/**
 * Largest |sampled − teacher-forced| probability allowed on the wasm backend and on the fast
 * path: at the floors above. Measured (wasm; fast path / tfjs path): top_5b_like 1.3e-4 /
 * 2.9e-5, top_1b_like 2.6e-4 / 5.6e-5, tiny_top 2.6e-5 / 5.5e-6, TINY.top5b 1.9e-5 / 1.2e-5,
 * TINY.top1b 2.5e-4 / 4.4e-5.
 */
const MAX_ERROR: Record<string, number> = { top5b: 1e-4, top1b: 5e-4, top_5b_like: 2e-4, top_1b_like: 5e-4, tiny_top: 5e-5 };

beforeAll(useBackend);

/**
 * Scales the lyric rows of a single encoder-decoder prior's tied embedding (the joint vocabulary's
 * first n_vocab) by 0.1, so that its music positions never draw a lyric token. A random 1b-like
 * prior draws them often; the sampler clamps them to 0 as the reference does, so the codes would
 * no longer be the sequence the model attended over, and a teacher-forced pass over the codes
 * would differ from the capture after the first one by design (Prior.sampleWithAttention).
 */
function quietLyricDraws(prior: Prior): Prior {
  if (!prior.singleEncDec) return prior;
  const name = 'prior.x_emb.weight';
  const w = prior.weights.get(name);
  prior.weights.set(name, tf.tidy(() => tf.concat([tf.mul(w.slice([0, 0], [prior.nVocab, -1]), 0.1), w.slice([prior.nVocab, 0], [-1, -1])])));
  return prior;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Runs `fn` on the fast path (`fast`) or the tfjs path, checking which one sampled. */
async function onPath<T>(fast: boolean, fn: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(FastSampler.prototype, 'sample');
  if (!fast) vi.stubEnv('JUKEBOX_FAST_SAMPLING', '0');
  try {
    const out = await fn();
    if (fast) expect(spy).toHaveBeenCalled();
    else expect(spy).not.toHaveBeenCalled();
    return out;
  } finally {
    spy.mockRestore();
    vi.unstubAllEnvs();
  }
}

describe('Prior.sampleWithAttention', () => {
  it.each([
    { key: 'top5b', fast: true },
    { key: 'top5b', fast: false },
    { key: 'top1b', fast: true },
    { key: 'top1b', fast: false },
  ] as const)('$key, fast $fast: every position of the window equals the teacher-forced record, primed in chunks', async ({ key, fast }) => {
    const prior = quietLyricDraws(randomPrior(TINY[key], 11));
    const inputs = windowInputs(prior, 5);
    try {
      const layers = lyricLayers(prior);
      const n = 2;
      const before = tf.memory().numTensors;
      const z = inputs.z.slice([0, 0], [n, 20]);
      const opts = { nSamples: n, z, y: inputs.y, topK: 1, chunkSize: 7, rng: new Rng(0) };
      const plain = await onPath(fast, () => prior.sample(opts));
      const got = await onPath(fast, () => prior.sampleWithAttention({ ...opts, rng: new Rng(0) }, { layers, heads: [1] }));
      expect(Array.from(got.tokens.dataSync())).toEqual(Array.from(plain.dataSync()));
      const forced = prior.forward(got.tokens, { y: inputs.y, recordAttention: new Set(layers) });
      for (const layer of layers) {
        // [N, heads, n_ctx, n_tokens]: the teacher-forced record, head 1 of each.
        const want = forced.attention!.get(layer)!.slice([0, 1, 0, 0], [-1, 1, -1, -1]);
        const probs = got.attention.get(layer)!;
        expect(probs.length).toBe(n * 1 * prior.nCtx * prior.nTokens);
        const err = maxAbsDiff(probs, want.dataSync());
        console.log(`${key} fast ${fast}: layer ${layer} max |sampled − teacher-forced| ${err.toExponential(2)}`);
        expect(err).toBeLessThan(MAX_ERROR[key]);
        want.dispose();
      }
      tf.dispose([plain, got.tokens, z, ...forced.attention!.values()]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.dispose([inputs.z, inputs.y ?? [], ...(inputs.zConds ?? [])]);
      prior.dispose();
    }
  });

  it('refuses layers that do not read lyrics and heads out of range', async () => {
    const prior = randomPrior(TINY.top5b, 11);
    const inputs = windowInputs(prior, 5);
    try {
      const before = tf.memory().numTensors;
      const opts = { nSamples: 2, y: inputs.y, topK: 1, sampleTokens: 4, rng: new Rng(0) };
      await expect(prior.sampleWithAttention(opts, { layers: [0] })).rejects.toThrow(/layer 0 of prior is not a lyric layer/);
      await expect(prior.sampleWithAttention(opts, { layers: [18], heads: [2] })).rejects.toThrow(/head 2 is out of range/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tf.dispose([inputs.z, inputs.y ?? [], ...(inputs.zConds ?? [])]);
      prior.dispose();
    }
  });
});

/** The priors of the level tests: the reference-built fixtures and the tiny_top preset. */
const PRIORS: Record<string, () => Prior> = {
  top_5b_like: () => loadPrior(path.join(DIR, 'top_5b_like.pth.tar'), { labelIds: path.join(DIR, 'label_ids') }).model,
  top_1b_like: () => quietLyricDraws(loadPrior(path.join(DIR, 'top_1b_like.pth'), { labelIds: path.join(DIR, 'label_ids') }).model),
  tiny_top: () => randomPrior(priorPreset('tiny_top'), 3),
};

/** Two songs (sampled from their start: offset 0), the first with lyrics long enough for several windows. */
const SONGS: SongMetadata[] = METAS.map((m, i) => ({ ...m, offsetSeconds: 0, lyrics: i === 0 ? `${m.lyrics} and on and on until the morning comes` : m.lyrics }));

const GREEDY = { temperature: 1, topK: 1, topP: 0 };
const ANCESTRAL = { temperature: 0.99, topK: 0, topP: 0 };

/** Samples `prior`'s level with and without capturing; checks the tokens and tensors; returns the codes and the capture. */
async function sampleBoth(prior: Prior, fast: boolean, tokens: number, draw: typeof GREEDY, seed: number, maxBatchSize: number, hopFraction = 0.5) {
  const settings: LevelSettings = { ...draw, chunkSize: 16, maxBatchSize, hopFraction };
  const plain: SongCodes = new Map();
  await onPath(fast, () => sampleLevel(prior, plain, tokens, { metas: SONGS, settings, rng: new Rng(seed) }));
  const zs: SongCodes = new Map();
  const before = tf.memory().numTensors;
  const recorder = new SampledLyricAttention(prior, SONGS);
  await onPath(fast, () => sampleLevel(prior, zs, tokens, { metas: SONGS, settings, rng: new Rng(seed), lyricAttention: recorder }));
  expect(tf.memory().numTensors).toBe(before);
  const codes = zs.get(prior.level)!;
  expect(codes.map((c) => Array.from(c))).toEqual(plain.get(prior.level)!.map((c) => Array.from(c)));
  return { codes, attention: recorder.result() };
}

/** The captured attention against captureLyricAttention over the sampled codes: the largest difference. */
async function compare(prior: Prior, codes: Int32Array[], attention: LyricAttention[], hopFraction = 0.5): Promise<number> {
  let worst = 0;
  for (const [i, got] of attention.entries()) {
    const want = await captureLyricAttention(prior, codes[i], SONGS[i], { hopFraction });
    expect(got.tokens).toBe(want.tokens);
    expect(got.characters).toBe(want.characters);
    expect(got.windowStarts).toEqual(want.windowStarts);
    expect(got.layers).toEqual(want.layers);
    expect([...got.maps.keys()]).toEqual([...want.maps.keys()]);
    for (const [key, map] of want.maps) worst = Math.max(worst, maxAbsDiff(got.maps.get(key)!, map));
  }
  return worst;
}

const DRAWS = { greedy: GREEDY, ancestral: ANCESTRAL };

describe.each(Object.keys(PRIORS))('sampling a level with lyric attention captured: %s', (name) => {
  let prior: Prior;
  beforeAll(() => {
    prior = PRIORS[name]();
  });
  afterAll(() => prior.dispose());

  it.each([
    { fast: true, draw: 'greedy' },
    { fast: false, draw: 'greedy' },
    { fast: true, draw: 'ancestral' },
    { fast: false, draw: 'ancestral' },
  ] as const)('three windows, fast $fast, $draw: equals the teacher-forced capture, stitched', async ({ fast, draw }) => {
    const tokens = 2 * prior.nCtx;
    const { codes, attention } = await sampleBoth(prior, fast, tokens, DRAWS[draw], 7, 2);
    expect(attention.map((a) => a.windowStarts)).toEqual([[0, prior.nCtx / 2, prior.nCtx], [0, prior.nCtx / 2, prior.nCtx]]);
    const err = await compare(prior, codes, attention);
    console.log(`${name}, fast ${fast}, ${draw}, ${tokens} tokens: max |sampled − teacher-forced| ${err.toExponential(2)}`);
    expect(err).toBeLessThan(MAX_ERROR[name]);
  });

  it.each([true, false])('nine windows at the top level\'s default hop fraction 0.125, fast %s: equals the teacher-forced capture at that hop', async (fast) => {
    const { codes, attention } = await sampleBoth(prior, fast, 2 * prior.nCtx, ANCESTRAL, 4, 2, 0.125);
    expect(attention[0].windowStarts).toEqual(Array.from({ length: 9 }, (_, k) => k * (prior.nCtx / 8)));
    const err = await compare(prior, codes, attention, 0.125);
    console.log(`${name}, fast ${fast}, hop 0.125: max |sampled − teacher-forced| ${err.toExponential(2)}`);
    expect(err).toBeLessThan(MAX_ERROR[name]);
  });

  it.each([true, false])('a song shorter than a window, one item per batch, fast %s: equals the teacher-forced capture', async (fast) => {
    const { codes, attention } = await sampleBoth(prior, fast, prior.nCtx - 24, ANCESTRAL, 3, 1);
    expect(attention[0].windowStarts).toEqual([0]);
    expect(await compare(prior, codes, attention)).toBeLessThan(MAX_ERROR[name]);
  });
});

describe.each(Object.keys(PRIORS))('on the cpu backend the tfjs path captures exactly the teacher-forced probabilities: %s', (name) => {
  let prior: Prior;
  let was: string;
  beforeAll(async () => {
    was = tf.getBackend();
    await tf.setBackend('cpu');
    prior = PRIORS[name]();
  });
  afterAll(async () => {
    prior.dispose();
    await tf.setBackend(was);
  });

  it('three windows an eighth of a context apart, ancestral', async () => {
    const { codes, attention } = await sampleBoth(prior, false, prior.nCtx + prior.nCtx / 4, ANCESTRAL, 7, 2, 0.125);
    expect(attention[0].windowStarts).toEqual([0, prior.nCtx / 8, prior.nCtx / 4]);
    expect(await compare(prior, codes, attention, 0.125)).toBe(0);
  });
});

describe('capturing through the sampling modes', () => {
  it('ancestralSample hands the capture to its level: the same heads and values as sampleLevel', async () => {
    const prior = randomPrior(priorPreset('tiny_top'), 3);
    try {
      const settings = new Map([[prior.level, { ...ANCESTRAL, chunkSize: 16, maxBatchSize: 2, hopFraction: 0.5 }]]);
      const viaMode = new SampledLyricAttention(prior, SONGS, { heads: [1] });
      const seconds = (2 * prior.nCtx * prior.rawToTokens) / prior.sampleRate;
      const zs = await ancestralSample([prior], { metas: SONGS, seconds, settings, rng: new Rng(5), lyricAttention: viaMode });
      const direct = new SampledLyricAttention(prior, SONGS);
      await sampleLevel(prior, new Map(), 2 * prior.nCtx, { metas: SONGS, settings: settings.get(prior.level)!, rng: new Rng(5), lyricAttention: direct });
      const [got, want] = [viaMode.result(), direct.result()];
      const layer = lyricLayers(prior)[0];
      expect(zs.get(prior.level)![0].length).toBe(2 * prior.nCtx);
      for (const i of [0, 1]) {
        expect([...got[i].maps.keys()]).toEqual([headKey(layer, 1)]);
        expect(Array.from(got[i].maps.get(headKey(layer, 1))!)).toEqual(Array.from(want[i].maps.get(headKey(layer, 1))!));
      }
      const elsewhere = { level: 0, capture: { layers: [layer] }, take: () => {} };
      await expect(ancestralSample([prior], { metas: SONGS, seconds, settings, rng: new Rng(5), lyricAttention: elsewhere })).rejects.toThrow(/level 0 is not sampled/);
    } finally {
      prior.dispose();
    }
  });
});

describe('SampledLyricAttention', () => {
  it('keeps only the heads asked for, and refuses what is not a lyric layer or head', () => {
    const prior = randomPrior(TINY.top5b, 11);
    try {
      const one = new SampledLyricAttention(prior, METAS, { heads: [1] });
      expect(one.capture).toEqual({ layers: [18], heads: [1] });
      expect(jukeboxErrorOf(() => new SampledLyricAttention(prior, METAS, { layers: [3] })).message).toMatch(/layer 3 is not a lyric layer/);
      expect(jukeboxErrorOf(() => new SampledLyricAttention(prior, METAS, { heads: [5] })).message).toMatch(/head 5 is out of range/);
      expect(headKey(18, 1)).toBe('18/1');
    } finally {
      prior.dispose();
    }
  });
});
