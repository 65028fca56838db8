import { describe, expect, it } from 'vitest';
import { evenSpreadBaseline, matchWords, onsetAccuracy, WordTiming } from '../../src/align/index';

const TRUTH: WordTiming[] = [
  { word: 'They', start: 1, end: 1.5 },
  { word: 'leave', start: 2, end: 2.5 },
  { word: 'the', start: 3, end: 3.2 },
  { word: 'feather', start: 8, end: 9 },
];

describe('onsetAccuracy', () => {
  it('gives the median absolute onset error and the shares within 0.2 s and 0.5 s', () => {
    const predicted = TRUTH.map((w, i) => ({ ...w, start: w.start + [0.1, -0.3, 0.6, 0.15][i] }));
    const a = onsetAccuracy(predicted, TRUTH);
    expect(a.words).toBe(4);
    expect(a.median_abs_error).toBeCloseTo((0.15 + 0.3) / 2, 12);
    expect(a.within_0_2).toBe(0.5);
    expect(a.within_0_5).toBe(0.75);
    expect(onsetAccuracy(TRUTH, TRUTH)).toEqual({ words: 4, median_abs_error: 0, within_0_2: 1, within_0_5: 1 });
  });

  it('matches words by their letters, so punctuation, case and a dropped word shift nothing', () => {
    const predicted = [{ word: 'they,', start: 1, end: 1 }, { word: 'the', start: 3, end: 3 }, { word: 'Feather!', start: 8, end: 8 }];
    expect(matchWords(predicted, TRUTH)).toEqual([[0, 0], [1, 2], [2, 3]]);
    const a = onsetAccuracy(predicted, TRUTH);
    expect(a.words).toBe(3);
    expect(a.median_abs_error).toBe(0);
    expect(a.within_0_2).toBe(0.75); // the missing word counts as a miss
    expect(onsetAccuracy([], TRUTH).median_abs_error).toBeNaN();
  });
});

describe('evenSpreadBaseline', () => {
  it('lays the words over the sung span in proportion to their characters, a space between words', () => {
    const b = evenSpreadBaseline(TRUTH);
    // 4 + 5 + 3 + 7 characters and 3 spaces over [1, 9]: 8 s / 22 per character.
    const c = 8 / 22;
    expect(b.map((w) => w.word)).toEqual(TRUTH.map((w) => w.word));
    expect(b[0].start).toBe(1);
    expect(b[1].start).toBeCloseTo(1 + 5 * c, 12);
    expect(b[2].start).toBeCloseTo(1 + 11 * c, 12);
    expect(b[3].start).toBeCloseTo(1 + 15 * c, 12);
    expect(b[3].end).toBeCloseTo(9, 12);
    expect(evenSpreadBaseline([])).toEqual([]);
  });
});
