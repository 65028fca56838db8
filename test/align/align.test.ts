import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignLyrics, ALIGNMENT_METHOD, captureLyricAttention, headKey, lyricLayers } from '../../src/align/index';
import { SongMetadata } from '../../src/labels';
import { randomPrior } from '../../src/prior/load';
import { Prior } from '../../src/prior/prior';
import { useBackend } from '../helpers';
import { codes, TINY } from '../prior/helpers';

/**
 * alignLyrics and captureLyricAttention end to end on the tiny fixture-shaped priors (random
 * weights: the values mean nothing, the shapes, windows, stitching and bookkeeping do).
 */

let top5b: Prior;
let top1b: Prior;
beforeAll(async () => {
  await useBackend();
  top5b = randomPrior(TINY.top5b, 11);
  top1b = randomPrior(TINY.top1b, 12);
});
afterAll(() => {
  top5b.dispose();
  top1b.dispose();
});

const META: SongMetadata = {
  artistId: 1, genreId: 1, totalSeconds: 2, offsetSeconds: 0,
  lyrics: 'the night is long and the river keeps the time, we sing it slowly then faster and faster still',
};

function songCodes(prior: Prior, tokens: number, seed: number): Int32Array {
  const t = codes(1, tokens, prior.lBins, seed);
  const data = t.dataSync() as Int32Array;
  t.dispose();
  return Int32Array.from(data);
}

describe('lyricLayers', () => {
  it('finds the encoder-decoder layer (5b design) and the prime layer (1b design)', () => {
    expect(lyricLayers(top5b)).toEqual([18]);
    expect(lyricLayers(top1b)).toEqual([15]);
  });
});

describe('captureLyricAttention', () => {
  it('stitches every head of the lyric layers into [tokens, characters] without leaking tensors', async () => {
    for (const prior of [top5b, top1b]) {
      const z = songCodes(prior, 160, 3);
      const before = tf.memory().numTensors;
      const progress: number[] = [];
      const attn = await captureLyricAttention(prior, z, META, { onWindow: (d, n) => progress.push(d / n) });
      expect(tf.memory().numTensors).toBe(before);
      expect(attn.tokens).toBe(160);
      expect(attn.windowStarts).toEqual([0, 32, 64, 96]);
      expect(progress.at(-1)).toBe(1);
      expect(attn.maps.size).toBe(2);
      const map = attn.maps.get(headKey(lyricLayers(prior)[0], 0))!;
      expect(map.length).toBe(160 * attn.characters.length);
      // Rows only the first window covers hold its attention alone: at most n_tokens characters,
      // summing to at most 1 (overlapped rows mix two windows' columns, as get_alignment's do).
      for (let t = 0; t < 32; t++) {
        const row = map.subarray(t * attn.characters.length, (t + 1) * attn.characters.length);
        const sum = row.reduce((a, b) => a + b, 0);
        // 5b design: all of a row's attention is on lyrics; 1b design: the prime keys also hold a few music tokens.
        if (prior === top5b) expect(sum).toBeGreaterThan(1 - 1e-5);
        expect(sum).toBeLessThan(1 + 1e-5);
        expect(row.filter((v) => v !== 0).length).toBeLessThanOrEqual(prior.nTokens);
      }
    }
  });
});

describe('alignLyrics', () => {
  it('uses the prior\'s alignment head and times every word within the song', async () => {
    const z = songCodes(top5b, 160, 5);
    const before = tf.memory().numTensors;
    const r = await alignLyrics(top5b, z, META);
    expect(tf.memory().numTensors).toBe(before);
    expect([r.layer, r.head]).toEqual([18, 1]);
    expect(r.method).toBe(ALIGNMENT_METHOD);
    expect(r.heads).toBeUndefined();
    expect(r.words.map((w) => w.word)).toEqual(META.lyrics.split(' ').map((w) => w.replace(',', '')));
    const seconds = 160 * r.hop_length / r.sample_rate;
    for (const [i, w] of r.words.entries()) {
      expect(w.start).toBeGreaterThanOrEqual(0);
      expect(w.end).toBeGreaterThan(w.start);
      expect(w.end).toBeLessThanOrEqual(seconds + 1e-9);
      if (i > 0) expect(w.start).toBeGreaterThanOrEqual(r.words[i - 1].end);
    }
  });

  it('ranks the heads with findHead and aligns with the first', async () => {
    const z = songCodes(top1b, 100, 6);
    const r = await alignLyrics(top1b, z, META, { findHead: true });
    expect(r.heads).toHaveLength(2);
    expect([r.layer, r.head]).toEqual([r.heads![0].layer, r.heads![0].head]);
  });
});
