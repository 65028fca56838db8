import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { captureLyricAttention, lyricLayers } from '../../src/align/capture';
import { rankHeads } from '../../src/align/heads';
import { loadVQVAE } from '../../src/checkpoint/load';
import { loadPrior } from '../../src/prior/load';
import { encodeSongs, fileHash, listSongs } from '../../src/train/prior-data';
import { PRIOR_RUN_FILES, PriorRunMetrics, trainPrior } from '../../src/train/prior-run';
import { useTrainingSet } from './helpers';

/**
 * Prior training logs the head finder's score of every lyric head at each held-out evaluation of
 * a top prior with lyrics (`lyric_heads`, best first), so that alignment can be watched as it is
 * learnt; priors without lyrics log none.
 */
const set = useTrainingSet();
const { dir } = set;

const readLog = (out: string): PriorRunMetrics[] =>
  fs.readFileSync(path.join(out, PRIOR_RUN_FILES.metrics), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('lyric heads in the prior training log', () => {
  it('a top prior with lyrics logs every lyric head\'s score at each save, as the head finder scores them on a held-out window', async () => {
    const out = path.join(dir, 'run-top');
    const before = tf.memory().numTensors;
    const r = await trainPrior({ outDir: out, steps: 4, data: set.data, vqvae: set.vqvae, preset: 'tiny_top', seed: 1, batchSize: 2, saveEvery: 2, warn: () => undefined });
    const layers = lyricLayers(r.model);
    const heads = r.model.config.heads;
    r.model.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const log = readLog(out);
    expect(log.map((m) => m.lyric_heads !== undefined)).toEqual(log.map((m) => m.heldout_bpd !== undefined));
    const saves = log.filter((m) => m.lyric_heads !== undefined);
    expect(saves.map((m) => m.step)).toEqual([1, 3]);
    for (const m of saves) {
      const scores = m.lyric_heads!;
      // Every head of every lyric layer, once, best first.
      expect(scores).toHaveLength(layers.length * heads);
      expect(new Set(scores.map((h) => `${h.layer}/${h.head}`)).size).toBe(scores.length);
      expect(scores.every((h) => layers.includes(h.layer) && h.head >= 0 && h.head < heads)).toBe(true);
      for (let i = 1; i < scores.length; i++) expect(scores[i].score).toBeLessThanOrEqual(scores[i - 1].score);
      expect(scores.every((h) => h.score >= 0 && h.score <= 1)).toBe(true);
    }
    expect(r.metrics.at(-1)!.lyric_heads).toEqual(saves.at(-1)!.lyric_heads);

    // The last save's scores are the head finder's on the middle window of one held-out song,
    // recomputed here from the saved model.
    const { model } = loadPrior(path.join(out, PRIOR_RUN_FILES.model));
    const { model: vqvae } = loadVQVAE(set.vqvae);
    try {
      const songs = await encodeSongs(listSongs(set.data, model, 'tiny_top'), vqvae, fileHash(set.vqvae), [model.level], path.join(out, PRIOR_RUN_FILES.codes));
      const rankings = [];
      for (const song of songs) {
        const start = Math.floor((song.codes[0].length - model.nCtx) / 2);
        const meta = { artist: song.meta.artist, genre: song.meta.genre, lyrics: song.meta.lyrics, totalSeconds: song.seconds, offsetSeconds: (start * model.rawToTokens) / model.sampleRate };
        const attention = await captureLyricAttention(model, song.codes[0].slice(start, start + model.nCtx), meta);
        rankings.push(rankHeads(attention).map((h) => ({ layer: h.layer, head: h.head, score: h.score })));
      }
      const logged = saves.at(-1)!.lyric_heads!;
      const same = rankings.filter((ranking) => ranking.every((h, i) => h.layer === logged[i].layer && h.head === logged[i].head && Math.abs(h.score - logged[i].score) < 1e-6));
      expect(same.length).toBeGreaterThanOrEqual(1);
    } finally {
      model.dispose();
      vqvae.dispose();
    }
  }, 120_000);

  it('an upsampler (no lyrics) logs none', async () => {
    const out = path.join(dir, 'run-upsampler');
    const r = await trainPrior({ outDir: out, steps: 2, data: set.data, vqvae: set.vqvae, preset: 'tiny_upsampler', seed: 1, batchSize: 2, saveEvery: 2, warn: () => undefined });
    r.model.dispose();
    const log = readLog(out);
    expect(log.some((m) => m.heldout_bpd !== undefined)).toBe(true);
    expect(log.every((m) => m.lyric_heads === undefined)).toBe(true);
  }, 120_000);
});
