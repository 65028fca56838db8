import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LabelConditioner } from '../../src/prior/conditioners';
import { randomWeights } from '../../src/vqvae/init';
import { ParameterRegistry } from '../../src/vqvae/weights';
import { tensorLeak, useBackend } from '../helpers';
import { jukeboxErrorOf } from './helpers';

beforeAll(useBackend);

/**
 * Bins of the three timing embeddings (total length; absolute and relative position at each of
 * n_time = 8 positions) for 1b_lyrics' range (17.84 s to 600 s at 44.1 kHz, 64 bins), as the
 * reference's RangeEmbedding computes them in float32 (openai/jukebox conditioners.py, torch
 * 1.13 on the CPU): the shortest song, the longest whose length float32 still holds below the
 * maximum, exact bin edges, a window running past the song's end (relative end clamped to 1).
 */
const REFERENCE_BINS = [
  { total: 786744, offset: 0, length: 786432, totalBin: 0, abs: [0, 0, 0, 0, 0, 1, 1, 1], rel: [0, 7, 15, 23, 31, 39, 47, 55] },
  { total: 26459990, offset: 25673558, length: 786432, totalBin: 63, abs: [62, 62, 62, 62, 63, 63, 63, 63], rel: [62, 62, 62, 62, 63, 63, 63, 63] },
  { total: 1323000, offset: 661500, length: 786432, totalBin: 1, abs: [1, 1, 2, 2, 2, 2, 3, 3], rel: [32, 36, 40, 44, 48, 52, 56, 60] },
  { total: 1048576, offset: 16384, length: 16384, totalBin: 0, abs: [0, 0, 0, 0, 0, 0, 0, 0], rel: [1, 1, 1, 1, 1, 1, 1, 1] },
  { total: 2646000, offset: 661500, length: 262144, totalBin: 4, abs: [1, 1, 1, 1, 1, 1, 2, 2], rel: [16, 16, 17, 18, 19, 19, 20, 21] },
  { total: 16777216, offset: 393216, length: 131072, totalBin: 39, abs: [0, 0, 1, 1, 1, 1, 1, 1], rel: [1, 1, 1, 1, 1, 1, 1, 1] },
  { total: 1000000, offset: 999999, length: 1, totalBin: 0, abs: [2, 2, 2, 2, 2, 2, 2, 2], rel: [63, 63, 63, 63, 63, 63, 63, 63] },
  { total: 926100, offset: 308700, length: 1048576, totalBin: 0, abs: [0, 1, 1, 1, 2, 2, 2, 2], rel: [21, 26, 32, 37, 42, 48, 53, 58] },
];

describe('LabelConditioner', () => {
  const registry = new ParameterRegistry();
  const conditioner = new LabelConditioner(registry, 'y_emb', {
    yBins: [3, 3], tBins: 64, sr: 44100, minDuration: 17.84, maxDuration: 600, nTime: 8, width: 3, maxBowGenreSize: 2,
    includeTimeSignal: true,
  });

  /** Weights whose timing embeddings write their bin index into channel 0, 1 or 2. */
  function indexWeights() {
    const w = randomWeights(registry, 0);
    ['total_length_emb', 'absolute_pos_emb', 'relative_pos_emb'].forEach((name, c) => {
      const rows = tf.tidy(() => tf.oneHot(tf.fill([64], c, 'int32'), 3).mul(tf.range(0, 64).reshape([64, 1])));
      w.set(`y_emb.${name}.emb.weight`, rows);
    });
    return w;
  }

  it('bins total length, absolute and relative position exactly as the reference (float32)', async () => {
    const w = indexWeights();
    const leak = await tensorLeak(() => {
      for (const c of REFERENCE_BINS) {
        const y = tf.tensor2d([[c.total, c.offset, c.length, 1, 2, -1]], [1, 6], 'int32');
        const { start, timing } = conditioner.apply(w, y);
        const t = timing!.dataSync();
        const got = { totalBin: Math.round(t[0]), abs: [] as number[], rel: [] as number[] };
        for (let k = 0; k < 8; k++) {
          got.abs.push(Math.round(t[3 * k + 1]));
          got.rel.push(Math.round(t[3 * k + 2]));
        }
        expect({ total: c.total, offset: c.offset, length: c.length, ...got }).toEqual(c);
        tf.dispose([y, start, timing!]);
      }
    });
    expect(leak).toBe(0);
    w.dispose();
  });

  it('sums the artist and the genre words, skipping empty (-1) genre slots', () => {
    const w = randomWeights(registry, 1);
    const y = tf.tensor2d([[786744, 0, 786432, 2, 1, -1], [786744, 0, 786432, 0, 2, 0]], [2, 6], 'int32');
    const { start, timing } = conditioner.apply(w, y);
    const artist = w.get('y_emb.artist_emb.emb.weight').arraySync() as number[][];
    const genre = w.get('y_emb.bow_genre_emb.emb.weight').arraySync() as number[][];
    const got = start.arraySync() as number[][][];
    for (let c = 0; c < 3; c++) {
      expect(got[0][0][c]).toBeCloseTo(artist[2][c] + genre[1][c], 6);
      expect(got[1][0][c]).toBeCloseTo(artist[0][c] + genre[2][c] + genre[0][c], 6);
    }
    tf.dispose([y, start, timing!]);
    w.dispose();
  });

  it('states a timing or id outside the prior\'s range in seconds, in one line', () => {
    const w = randomWeights(registry, 2);
    const cases: [number[], string][] = [
      [[26460000, 0, 786432, 0, 0, -1], 'total length 600 s is outside this prior\'s range [17.84 s, 600 s)'],
      [[44100, 0, 786432, 0, 0, -1], 'total length 1 s is outside this prior\'s range [17.84 s, 600 s)'],
      [[26459990, 26459990, 786432, 0, 0, -1], 'window end 617.833 s is outside this prior\'s range [0 s, 600 s)'],
      [[786744, 0, 786432, 3, 0, -1], 'artist id 3 is outside this prior\'s 3 artists'],
      [[786744, 0, 786432, 0, 5, -1], 'genre id 5 is outside this prior\'s 3 genres'],
    ];
    for (const [row, message] of cases) {
      const y = tf.tensor2d([row], [1, 6], 'int32');
      expect(jukeboxErrorOf(() => conditioner.apply(w, y)).message).toBe(message);
      y.dispose();
    }
    w.dispose();
  });
});
