import { describe, expect, it } from 'vitest';
import { ALIGNMENT_METHODS, alignWords, LINE_END_HOLD, linePath, lyricWords, wordPath } from '../../src/align/index';
import { JukeboxError } from '../../src/errors';
import { lcg, syntheticAttention, syntheticMap } from './synthetic';

const LYRICS = 'the night is long,\nand the river keeps the time';
const SPANS: [number, number][] = [[10, 20], [22, 40], [42, 48], [50, 70], [140, 150], [152, 160], [162, 190], [192, 210], [212, 222], [224, 250]];

describe('lyricWords', () => {
  it('splits cleaned lyrics on whitespace and trims punctuation, keeping inner apostrophes', () => {
    const words = lyricWords("don't stop, (now) -- \"ok\"!\nyes");
    expect(words.map((w) => w.word)).toEqual(["don't", 'stop', 'now', 'ok', 'yes']);
    expect(words[1]).toEqual({ word: 'stop', from: 6, to: 10 });
  });
});

describe('alignWords', () => {
  it('says which method each decoding is', () => {
    expect(ALIGNMENT_METHODS).toEqual({ words: 'viterbi-words-gaps', lines: 'viterbi-lines-gaps-then-words' });
  });

  it('recovers each word\'s span from attention that moves through the lyrics', () => {
    const attn = syntheticAttention(LYRICS, 260, [syntheticMap(LYRICS, 260, SPANS)]);
    const words = alignWords(attn, 0, 0);
    expect(words.map((w) => w.word)).toEqual(['the', 'night', 'is', 'long', 'and', 'the', 'river', 'keeps', 'the', 'time']);
    words.forEach((w, k) => {
      expect(w.start).toBeCloseTo(SPANS[k][0] * attn.secondsPerToken, 9);
      expect(w.end).toBeCloseTo(SPANS[k][1] * attn.secondsPerToken, 9);
    });
  });

  it('recovers onsets from a head that spreads each word\'s mass over its characters and lingers on it in the gaps', () => {
    // What a head trained with word-level targets (src/train/align-loss.ts) may look like: diffuse
    // before the first word, then on the last word sung until the next begins.
    const n = LYRICS.length;
    const words = lyricWords(LYRICS);
    const map = new Float32Array(260 * n);
    for (let t = 0; t < 260; t++) {
      let k = SPANS.findIndex(([a, b]) => t >= a && t < b);
      if (k < 0) k = SPANS.filter(([a]) => a <= t).length - 1;
      if (k < 0) {
        map.fill(1 / n, t * n, (t + 1) * n);
        continue;
      }
      const w = words[k];
      map.fill(0.1 / (n - (w.to - w.from)), t * n, (t + 1) * n);
      map.fill(0.9 / (w.to - w.from), t * n + w.from, t * n + w.to);
    }
    const got = alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0);
    got.forEach((w, k) => expect(w.start).toBeCloseTo(SPANS[k][0] * 0.008, 9));
  });

  it('is not pulled by an attention sink: a character the head attends to at every token', () => {
    const map = syntheticMap(LYRICS, 260, SPANS);
    const n = LYRICS.length;
    const newline = LYRICS.indexOf('\n');
    for (let t = 0; t < 260; t++) {
      for (let c = 0; c < n; c++) map[t * n + c] *= 0.5;
      map[t * n + newline] += 0.5;
    }
    const words = alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0);
    words.forEach((w, k) => {
      expect(w.start).toBeCloseTo(SPANS[k][0] * 0.008, 9);
      expect(w.end).toBeCloseTo(SPANS[k][1] * 0.008, 9);
    });
  });

  it('gives an instrumental passage no words: diffuse attention is a gap, not a stretched word', () => {
    // Tokens 70..140 sing nothing: attention spreads over the lyric window.
    const attn = syntheticAttention(LYRICS, 260, [syntheticMap(LYRICS, 260, SPANS)]);
    const spt = attn.secondsPerToken;
    for (const w of alignWords(attn, 0, 0)) expect(w.end <= 70 * spt + 1e-9 || w.start >= 140 * spt - 1e-9).toBe(true);
    // What a path without gaps (DTW over the characters) does instead: a word swallows the break.
    const noGaps = alignWords(attn, 0, 0, { gapLevel: 1e-6 });
    expect(noGaps.some((w) => w.start < 100 * spt && w.end > 110 * spt)).toBe(true);
    // Still so with noise on every value and a break that leans towards the next word (twice uniform).
    const rand = lcg(5);
    const map = syntheticMap(LYRICS, 260, SPANS);
    const n = LYRICS.length;
    for (let t = 70; t < 140; t++) map[t * n + lyricWords(LYRICS)[4].from] = 2 / 32;
    for (let i = 0; i < map.length; i++) map[i] *= 0.7 + 0.6 * rand();
    const noisy = alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0);
    for (const w of noisy) expect(w.end <= 71 * spt || w.start >= 139 * spt).toBe(true);
    expect(noisy[4].start).toBeCloseTo(140 * spt, 1);
  });

  it('keeps words out of a break where the attention rests on a line break', () => {
    const map = syntheticMap(LYRICS, 260, SPANS);
    const n = LYRICS.length;
    const newline = LYRICS.indexOf('\n');
    for (let t = 70; t < 140; t++) {
      map.fill(0.1 / 31, t * n, (t + 1) * n);
      map[t * n + newline] = 0.9;
    }
    const words = alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0);
    expect(words[3].end).toBeCloseTo(70 * 0.008, 9);
    expect(words[4].start).toBeCloseTo(140 * 0.008, 9);
  });

  it('keeps the first word from starting while the head looks at the padding before the lyrics', () => {
    // Tokens 0..9, before the first word: 30% on its first character, the rest on the padding keys
    // before the lyrics, which the stitched matrix does not hold (the rows sum to 0.3).
    const n = LYRICS.length;
    const before = (share: number) => {
      const map = syntheticMap(LYRICS, 260, SPANS);
      for (let t = 0; t < 10; t++) {
        map.fill(0, t * n, (t + 1) * n);
        map[t * n] = share;
      }
      return alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0);
    };
    expect(before(0.3)[0].start).toBeCloseTo(10 * 0.008, 9);
    // The same rows with no padding to look at: all on the first word, which then starts at once.
    expect(before(1)[0].start).toBe(0);
  });

  it('gives every word at least one token and keeps them in order, even from attention that says nothing', () => {
    const map = new Float32Array(30 * LYRICS.length).fill(1 / LYRICS.length);
    const words = alignWords(syntheticAttention(LYRICS, 30, [map]), 0, 0);
    expect(words).toHaveLength(10);
    words.forEach((w, k) => {
      expect(w.end - w.start).toBeGreaterThan(0);
      if (k > 0) expect(w.start).toBeGreaterThanOrEqual(words[k - 1].end);
    });
  });

  it('leaves out the words no window read (codes of an excerpt of a longer song)', () => {
    // Only the first line's characters (and the line break after it) have attention.
    const map = syntheticMap(LYRICS, 80, SPANS.slice(0, 4));
    const n = LYRICS.length;
    for (let t = 0; t < 80; t++) map.fill(0, t * n + LYRICS.indexOf('\n') + 1, (t + 1) * n);
    const words = alignWords(syntheticAttention(LYRICS, 80, [map]), 0, 0);
    expect(words.map((w) => w.word)).toEqual(['the', 'night', 'is', 'long']);
    words.forEach((w, k) => expect(w.start).toBeCloseTo(SPANS[k][0] * 0.008, 9));
  });

  it('returns no words for lyrics without any, and refuses fewer tokens than words', () => {
    expect(alignWords(syntheticAttention('... !', 5, [new Float32Array(25)]), 0, 0)).toEqual([]);
    expect(() => wordPath(new Float32Array(5 * LYRICS.length).fill(0.01), 5, LYRICS, 0.1)).toThrow(/5 tokens, fewer than the 10 words/);
    expect(() => alignWords(syntheticAttention(LYRICS, 30, [new Float32Array(30 * LYRICS.length)]), 3, 0)).toThrow(/layer 3 head 0 was not captured/);
    expect(() => alignWords(syntheticAttention(LYRICS, 30, [new Float32Array(30 * LYRICS.length)]), 0, 0, { gapLevel: 0 })).toThrow(JukeboxError);
  });
});

describe('alignWords, lines decoding', () => {
  const spt = 128 / 16000;
  const words = lyricWords(LYRICS);
  const newline = LYRICS.indexOf('\n');
  const lines: [number, number][] = [[words[0].from, words[3].to], [words[4].from, words[9].to]];

  const sung: [number, number][] = [[SPANS[0][0], SPANS[3][1]], [SPANS[4][0], SPANS[9][1]]];

  /**
   * Marks the breaks as a head trained with break targets does (`train-prior --align-breaks`):
   * outside the lines' sung spans its attention rests on the line break, and before the first word
   * on the padding before the lyrics (rows summing to 0.1, the rest on keys the matrix drops).
   */
  function marksBreaks(map: Float32Array, tokens: number): Float32Array {
    const n = LYRICS.length;
    for (let t = 0; t < tokens; t++) {
      if (sung.some(([a, b]) => t >= a && t < b)) continue;
      map.fill(0, t * n, (t + 1) * n);
      map[t * n + (t < SPANS[0][0] ? 0 : newline)] = t < SPANS[0][0] ? 0.1 : 1;
    }
    return map;
  }

  /** A head that knows which line is sung but not which word: attention spread evenly over the line's characters. */
  function lineHead(tokens: number): Float32Array {
    const n = LYRICS.length;
    const map = new Float32Array(tokens * n);
    for (let t = 0; t < tokens; t++) {
      const k = sung.findIndex(([a, b]) => t >= a && t < b);
      if (k >= 0) map.fill(1 / (lines[k][1] - lines[k][0]), t * n + lines[k][0], t * n + lines[k][1]);
    }
    return marksBreaks(map, tokens);
  }

  it('finds each line\'s sung span from a head that only knows the line, and spreads its words over it', () => {
    const got = alignWords(syntheticAttention(LYRICS, 260, [lineHead(260)]), 0, 0, { decoding: 'lines' });
    expect(got.map((w) => w.word)).toEqual(words.map((w) => w.word));
    // Each line starts and ends where its singing does.
    expect(got[0].start).toBeCloseTo(SPANS[0][0] * spt, 9);
    expect(got[3].end).toBeCloseTo(SPANS[3][1] * spt, 9);
    expect(got[4].start).toBeCloseTo(SPANS[4][0] * spt, 9);
    expect(got[9].end).toBeCloseTo(SPANS[9][1] * spt, 9);
    // Nothing in the break (tokens 70..140) or before the singing.
    for (const w of got) expect(w.end <= 70 * spt + 1e-9 || w.start >= 140 * spt - 1e-9).toBe(true);
    // Words follow each other, the longer ones taking longer: "river" more than "the".
    got.forEach((w, k) => {
      expect(w.end).toBeGreaterThan(w.start);
      if (k > 0 && k !== 4) expect(w.start).toBeCloseTo(got[k - 1].end, 9);
    });
    expect(got[6].end - got[6].start).toBeGreaterThan(got[5].end - got[5].start);
    // Read word by word instead, the same head puts the second line's first word in the break.
    const byWords = alignWords(syntheticAttention(LYRICS, 260, [lineHead(260)]), 0, 0);
    expect(Math.abs(byWords[4].start - SPANS[4][0] * spt)).toBeGreaterThan(0.1);
  });

  it('places each onset between the even spread and a word-tracking head\'s own boundary', () => {
    const map = marksBreaks(syntheticMap(LYRICS, 260, SPANS), 260);
    const got = alignWords(syntheticAttention(LYRICS, 260, [map]), 0, 0, { decoding: 'lines' });
    expect(linePath(map, 260, LYRICS).map((l) => [l.words, l.first, l.last])).toEqual([[[0, 1, 2, 3], 10, 69], [[4, 5, 6, 7, 8, 9], 140, 249]]);
    got.forEach((w, k) => {
      const truth = SPANS[k][0] * spt;
      const line = k < 4 ? [10, 70, 0, 4] : [140, 250, 4, 10];
      const chars = words.slice(line[2], line[3]).map((x) => x.to - x.from);
      const before = words.slice(line[2], k).reduce((a, x) => a + x.to - x.from + 1, 0);
      // Spread by characters, the line's last word held LINE_END_HOLD of a mean word longer.
      const letters = chars.reduce((a, b) => a + b, 0);
      const even = (line[0] + ((line[1] - line[0]) * before) / (letters + chars.length - 1 + (LINE_END_HOLD * letters) / chars.length)) * spt;
      // The head's boundary falls in the rest before the word (its words follow back to back).
      const rest = (k === line[2] ? SPANS[k][0] : SPANS[k - 1][1]) * spt;
      expect(w.start).toBeGreaterThanOrEqual(Math.min(rest, even) - 1e-9);
      expect(w.start).toBeLessThanOrEqual(Math.max(truth, even) + 1e-9);
    });
  });

  it('leaves out the words no window read, and refuses fewer tokens than lines', () => {
    const map = lineHead(80);
    const n = LYRICS.length;
    for (let t = 0; t < 80; t++) map.fill(0, t * n + newline + 1, (t + 1) * n);
    const got = alignWords(syntheticAttention(LYRICS, 80, [map]), 0, 0, { decoding: 'lines' });
    expect(got.map((w) => w.word)).toEqual(['the', 'night', 'is', 'long']);
    expect(got[0].start).toBeCloseTo(SPANS[0][0] * spt, 9);
    expect(() => linePath(new Float32Array(LYRICS.length).fill(0.01), 1, LYRICS)).toThrow(/1 tokens, fewer than the 2 lines/);
    expect(linePath(new Float32Array(5 * 5), 5, '... !')).toEqual([]);
    expect(() => alignWords(syntheticAttention(LYRICS, 30, [map.subarray(0, 30 * n)]), 0, 0, { decoding: 'syllables' as 'lines' })).toThrow(/decoding must be words or lines, got 'syllables'/);
    // An inherited key of the methods table is not a decoding either.
    expect(() => alignWords(syntheticAttention(LYRICS, 30, [map.subarray(0, 30 * n)]), 0, 0, { decoding: 'constructor' as 'lines' })).toThrow(/decoding must be words or lines, got 'constructor'/);
  });
});
