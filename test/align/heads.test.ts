import { describe, expect, it } from 'vitest';
import { rankHeads, scoreHead } from '../../src/align/index';
import { lcg, syntheticAttention, syntheticMap } from './synthetic';

const LYRICS = 'the night is long and the river keeps the time we sing it slowly then faster';
const T = 320;
/** Word k sung over [20 + 18k, 34 + 18k). */
const SPANS: [number, number][] = Array.from({ length: 16 }, (_, k) => [20 + 18 * k, 34 + 18 * k]);

function uniform(): Float32Array {
  return new Float32Array(T * LYRICS.length).fill(1 / LYRICS.length);
}

/** Attention on one fixed character at every token (a head that ignores time). */
function fixed(c: number): Float32Array {
  const m = new Float32Array(T * LYRICS.length);
  for (let t = 0; t < T; t++) m[t * LYRICS.length + c] = 1;
  return m;
}

/** The aligned head's rows shuffled in time: concentrated and covering, not monotonic. */
function shuffled(map: Float32Array): Float32Array {
  const rand = lcg(3);
  const order = Array.from({ length: T }, (_, i) => i).sort(() => rand() - 0.5);
  const n = LYRICS.length;
  const out = new Float32Array(map.length);
  order.forEach((from, to) => out.set(map.subarray(from * n, (from + 1) * n), to * n));
  return out;
}

/** Attention that follows the lyrics for the first three words only, then stays there. */
function stuck(): Float32Array {
  const m = syntheticMap(LYRICS, T, SPANS.slice(0, 3));
  const n = LYRICS.length;
  for (let t = SPANS[2][1]; t < T; t++) {
    m.fill(0, t * n, (t + 1) * n);
    m[t * n + 10] = 1;
  }
  return m;
}

describe('rankHeads', () => {
  it('ranks the aligned head first, above uniform, fixed, shuffled and stuck heads', () => {
    const aligned = syntheticMap(LYRICS, T, SPANS, { window: 32 });
    const attn = syntheticAttention(LYRICS, T, [uniform(), fixed(5), shuffled(aligned), aligned, stuck()]);
    const ranking = rankHeads(attn);
    expect(ranking.map((h) => h.head)[0]).toBe(3);
    const by = new Map(ranking.map((h) => [h.head, h]));
    const best = by.get(3)!;
    expect(best.monotonicity).toBeGreaterThan(0.95);
    expect(best.coverage).toBe(1);
    expect(best.concentration).toBeGreaterThan(0.2);
    expect(by.get(0)!.concentration).toBeLessThan(1e-6); // uniform
    expect(by.get(1)!.coverage).toBeLessThan(0.1); // one character
    expect(by.get(2)!.monotonicity).toBeLessThan(0.2); // shuffled in time
    expect(by.get(4)!.coverage).toBeLessThan(0.3); // stuck on the first line
    for (const h of ranking) {
      expect(h.score).toBeCloseTo(h.monotonicity * h.concentration * h.coverage, 12);
      expect(h.layer).toBe(0);
    }
    expect(ranking.map((h) => h.score)).toEqual([...ranking.map((h) => h.score)].sort((a, b) => b - a));
  });

  it('prefers the sharper of two aligned heads', () => {
    const sharp = syntheticMap(LYRICS, T, SPANS, { peak: 0.8 });
    const soft = syntheticMap(LYRICS, T, SPANS, { peak: 0.3 });
    expect(rankHeads(syntheticAttention(LYRICS, T, [soft, sharp]))[0].head).toBe(1);
  });

  it('scores a map with no attention at all as 0', () => {
    expect(scoreHead(new Float32Array(T * LYRICS.length), T, LYRICS, 32)).toEqual({ score: 0, monotonicity: 0, concentration: 0, coverage: 0 });
  });
});
