import { describe, expect, it } from 'vitest';
import { evenSpreadBaseline, headTracking, matchWords, onsetAccuracy, WordTiming } from '../../src/align/index';

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

describe('headTracking', () => {
  // "They leave\nthe feather": They is characters 0..3, leave 5..9, the 11..13, feather 15..21; one token per second.
  const characters = 'They leave\nthe feather';
  const rowLooking = (c: number) => Array.from({ length: characters.length }, (_, k) => (k === c ? 0.5 : 0.5 / characters.length));
  // The character each token's row looks at.
  const looks = [0, 2, 7, 0, 12, 1, 15, 20, 19, 0];
  const map = Float32Array.from(looks.flatMap(rowLooking));
  const truth: WordTiming[] = [
    { word: 'They', start: 1, end: 3 }, // tokens 1, 2: at 'e' of They, at 'a' of leave (its line)
    { word: 'leave', start: 4, end: 5.4 }, // token 4 (centre 4.5; not 5, centre 5.5): at 'h' of the, the next line
    { word: 'the', start: 5.6, end: 6.6 }, // token 6 (centre 6.5): at 'f' of feather, its line
    { word: 'feather', start: 7, end: 9 }, // tokens 7, 8: at 'e', 'h' of feather
  ];

  it('counts the tokens sung inside each word, and where the head looks: the word, or only its line', () => {
    expect(headTracking(map, looks.length, characters, 1, truth)).toEqual({ tokens: 6, word: 3 / 6, line: 5 / 6 });
  });

  it('pairs the words as onsetAccuracy does, so a word the lyrics lack is not counted', () => {
    const extra = [...truth.slice(0, 2), { word: 'never', start: 5, end: 6 }, ...truth.slice(2)];
    expect(headTracking(map, looks.length, characters, 1, extra)).toEqual({ tokens: 6, word: 3 / 6, line: 5 / 6 });
    expect(headTracking(map, looks.length, characters, 1, [])).toEqual({ tokens: 0, word: 0, line: 0 });
  });

  it('refuses a map of the wrong size', () => {
    expect(() => headTracking(map.subarray(1), looks.length, characters, 1, truth)).toThrow(/attention map holds 219 values, expected 10 × 22/);
  });
});
