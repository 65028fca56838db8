import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignLyrics, ALIGNMENT_METHODS, alignWords, captureLyricAttention, headKey, lyricLayers, lyricWords } from '../../src/align/index';
import { JukeboxError } from '../../src/errors';
import { relevantLyricTokens, SongMetadata } from '../../src/labels';
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

/** A whole song at the tiny priors' rate (128 samples per token at 44.1 kHz): 345 tokens, 1.001 s. */
const WHOLE = { tokens: 345, meta: { ...META, totalSeconds: (345 * 128) / 44100 } };

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
    const z = songCodes(top5b, WHOLE.tokens, 5);
    const before = tf.memory().numTensors;
    const r = await alignLyrics(top5b, z, WHOLE.meta);
    expect(tf.memory().numTensors).toBe(before);
    expect([r.layer, r.head]).toEqual([18, 1]);
    expect(r.method).toBe(ALIGNMENT_METHODS.words);
    expect(r.decoding).toBe('words');
    expect(r.heads).toBeUndefined();
    expect(r.words.map((w) => w.word)).toEqual(META.lyrics.split(' ').map((w) => w.replace(',', '')));
    const seconds = WHOLE.tokens * r.hop_length / r.sample_rate;
    for (const [i, w] of r.words.entries()) {
      expect(w.start).toBeGreaterThanOrEqual(0);
      expect(w.end).toBeGreaterThan(w.start);
      expect(w.end).toBeLessThanOrEqual(seconds + 1e-9);
      if (i > 0) expect(w.start).toBeGreaterThanOrEqual(r.words[i - 1].end);
    }
  });

  it('times only the words the windows read when the codes are an excerpt of a longer song', async () => {
    const r = await alignLyrics(top5b, songCodes(top5b, 100, 5), META);
    const all = lyricWords(r.characters.join('')).map((w) => w.word);
    expect(r.words.length).toBeGreaterThan(0);
    expect(r.words.length).toBeLessThan(all.length);
    expect(r.words.map((w) => w.word)).toEqual(all.slice(0, r.words.length));
  });

  it('decodes the words as the prior\'s alignment_decoding says, unless told otherwise', async () => {
    const prior = randomPrior({ ...TINY.top5b, alignment_decoding: 'lines' }, 11);
    try {
      const meta: SongMetadata = { ...WHOLE.meta, lyrics: 'the night is long,\nand the river keeps the time' };
      const z = songCodes(prior, WHOLE.tokens, 5);
      const r = await alignLyrics(prior, z, meta);
      expect([r.decoding, r.method]).toEqual(['lines', ALIGNMENT_METHODS.lines]);
      expect(r.words).toEqual(alignWords(r.attention, r.layer, r.head, { decoding: 'lines' }));
      const byWords = await alignLyrics(prior, z, meta, { decoding: 'words' });
      expect([byWords.decoding, byWords.method]).toEqual(['words', ALIGNMENT_METHODS.words]);
      expect(byWords.words).toEqual(alignWords(r.attention, r.layer, r.head));
      expect(byWords.words).not.toEqual(r.words);
    } finally {
      prior.dispose();
    }
    expect(() => randomPrior({ ...TINY.top5b, alignment_decoding: 'phrases' as 'lines' }, 11)).toThrow(/alignment_decoding must be 'words' or 'lines', got "phrases"/);
  });

  it('ranks the heads with findHead and aligns with the first', async () => {
    const z = songCodes(top1b, 100, 6);
    const r = await alignLyrics(top1b, z, META, { findHead: true });
    expect(r.heads).toHaveLength(2);
    expect([r.layer, r.head]).toEqual([r.heads![0].layer, r.heads![0].head]);
  });
});

describe('robustness', () => {
  it('aligns lyrics with accents, punctuation and non-ASCII characters: the columns are the cleaned lyrics', async () => {
    const warnings: string[] = [];
    const prior = randomPrior(TINY.top5b, 21);
    try {
      const lyrics = 'Café «naïve» — Straße, déjà-vu!\nПривет мир; 你好 ✨ façade… “ok”';
      const meta: SongMetadata = { ...WHOLE.meta, lyrics };
      const cleaned = prior.labeller!.textProcessor.clean(lyrics, (w) => warnings.push(w));
      const r = await alignLyrics(prior, songCodes(prior, WHOLE.tokens, 8), meta);
      expect(r.characters.join('')).toBe(cleaned);
      expect(cleaned).toMatch(/^Cafe naive -- Strasse, deja-vu!\nPrivet mir; Ni Hao/);
      expect(r.words.map((w) => w.word)).toEqual(lyricWords(cleaned).map((w) => w.word));
      expect(r.words.map((w) => w.word).slice(0, 6)).toEqual(['Cafe', 'naive', 'Strasse', 'deja-vu', 'Privet', 'mir']);
      for (const w of r.words) expect(w.end).toBeGreaterThan(w.start);
      expect(warnings.join()).toMatch(/dropped/);
    } finally {
      prior.dispose();
    }
  });

  it('windows lyrics longer than the lyric window as the Labeller does', async () => {
    // 32 lyric tokens per window, ~190 characters: each window reads its own slice.
    const lyrics = Array.from({ length: 12 }, (_, i) => `line ${i} of a song that goes on`).join('\n');
    const meta: SongMetadata = { ...META, lyrics, totalSeconds: 1.2 };
    const z = songCodes(top5b, 160, 9);
    const attn = await captureLyricAttention(top5b, z, meta, { layers: [18] });
    const n = attn.characters.length;
    expect(n).toBeGreaterThan(6 * top5b.nTokens / 2);
    const full = top5b.labeller!.getBatchLabels([meta]).info[0].fullTokens;
    const map = attn.maps.get(headKey(18, 0))!;
    const slices = attn.windowStarts.map((start) => relevantLyricTokens(full, 32, Math.round(1.2 * 44100), start * 128, 64 * 128, true).indices);
    expect(new Set(slices.map((s) => s[0])).size).toBe(slices.length);
    // Rows only the first window covers (tokens 0..31) attend exactly to its slice; the rows of
    // the last window's tail (past every earlier window) to the last slice.
    const columnsOf = (t: number): number[] => Array.from({ length: n }, (_, c) => c).filter((c) => map[t * n + c] !== 0);
    for (const t of [0, 17, 31]) expect(columnsOf(t)).toEqual(slices[0]);
    for (const t of [128, 159]) expect(columnsOf(t)).toEqual(slices[slices.length - 1]);
  });

  it('rejects what it cannot align, naming the option', async () => {
    const z = songCodes(top5b, 64, 1);
    await expect(alignLyrics(top5b, z, META, { layer: 3 })).rejects.toThrow(/layer 3 is not a lyric layer of this prior \(lyric layers: 18\)/);
    await expect(alignLyrics(top5b, z, META, { head: 1 })).rejects.toThrow(/--head needs --layer/);
    await expect(alignLyrics(top5b, z, META, { layer: 18, head: 2 })).rejects.toThrow(/head 2 is out of range/);
    await expect(captureLyricAttention(top5b, new Int32Array(0), META)).rejects.toThrow(JukeboxError);
    await expect(captureLyricAttention(top5b, z, META, { hopFraction: 0 })).rejects.toThrow(/hop fraction/);
    const noLyrics = randomPrior({ ...TINY.top5b, use_tokens: false, n_tokens: 0, attn_order: 2, prior_depth: 3, merged_decoder: false, prime_loss_fraction: 0, alignment_layer: null, alignment_head: null }, 3);
    try {
      expect(lyricLayers(noLyrics)).toEqual([]);
      await expect(alignLyrics(noLyrics, z, META)).rejects.toThrow(/does not read lyrics/);
    } finally {
      noLyrics.dispose();
    }
  });

  it('aligns with one layer alone: ranks that layer\'s heads', async () => {
    const r = await alignLyrics(top5b, songCodes(top5b, 80, 4), META, { layer: 18 });
    expect(r.layer).toBe(18);
    expect(r.heads!.map((h) => h.layer)).toEqual([18, 18]);
    expect(r.head).toBe(r.heads![0].head);
    expect([...r.attention.maps.keys()].sort()).toEqual(['18/0', '18/1']);
  });
});

describe('captureLyricAttention errors', () => {
  it('leaks nothing when a window\'s labels are refused (codes longer than the song\'s total length)', async () => {
    const before = tf.memory().numTensors;
    // 420 tokens of 128 samples at 44.1 kHz is 1.22 s, past a song said to last 1 s: the last window starts outside it.
    await expect(captureLyricAttention(top5b, songCodes(top5b, 420, 2), { ...META, totalSeconds: 1 }, { maxBatchSize: 2 })).rejects.toThrow(/window start 1.033 s is not inside the song/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
