import { describe, expect, it } from 'vitest';
import { batchRanges, conditioningSpan, hopLength, partialWindow, planLevelWindows, planScoreWindows, secondsToChunkedTokens, windowStarts } from '../../src/sample/windows';

/** The reference's get_starts, transcribed as a loop over Python's range, for comparison. */
function referenceStarts(total: number, nCtx: number, hop: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < total - nCtx + hop; s += hop) out.push(s + nCtx >= total ? total - nCtx : s);
  return out;
}

describe('window starts', () => {
  it('match get_starts, including the last window pulled back to a full context', () => {
    expect(windowStarts(8192, 8192, 1024)).toEqual([0]);
    expect(windowStarts(10000, 8192, 1024)).toEqual([0, 1024, 1808]);
    expect(windowStarts(64, 16, 8)).toEqual([0, 8, 16, 24, 32, 40, 48]);
    expect(windowStarts(70, 16, 8)).toEqual([0, 8, 16, 24, 32, 40, 48, 54]);
    for (const [total, nCtx, hop] of [[100, 32, 16], [33, 32, 4], [1000, 64, 48], [65, 64, 64]]) {
      expect(windowStarts(total, nCtx, hop)).toEqual(referenceStarts(total, nCtx, hop));
    }
  });

  it('hops are the fraction of n_ctx, rounded down to the conditioning downsampling', () => {
    expect(hopLength(0.125, 8192)).toBe(1024);
    expect(hopLength(0.5, 8192, 4)).toBe(4096);
    expect(hopLength(0.3, 10, 4)).toBe(0 + 4); // 3 rounds down to 0, so one step of 4
    expect(hopLength(0.7, 20, 4)).toBe(12); // 14 → 12
    expect(() => hopLength(0, 10)).toThrow(/--hop-fraction/);
    expect(() => hopLength(1.5, 10)).toThrow(/--hop-fraction/);
  });
});

describe('level windows', () => {
  it('3+ windows line up: each continues exactly where the song ends, and together cover it once', () => {
    const total = 100;
    const nCtx = 32;
    const windows = planLevelWindows(total, 0, nCtx, hopLength(0.5, nCtx, 4));
    expect(windows.length).toBeGreaterThanOrEqual(3);
    let have = 0;
    for (const w of windows) {
      expect(w.end - w.start).toBe(nCtx);
      expect(w.start + w.context).toBe(have);
      expect(w.context + w.fresh).toBe(nCtx);
      expect(w.start % 4).toBe(0);
      have = w.end;
    }
    expect(have).toBe(total);
    expect(windows.map((w) => w.start)).toEqual([0, 16, 32, 48, 64, 68]);
    expect(windows.map((w) => w.fresh)).toEqual([32, 16, 16, 16, 16, 4]);
  });

  it('a primed level resumes at the end of its prompt and skips windows inside it', () => {
    const windows = planLevelWindows(100, 40, 32, 16);
    expect(windows[0]).toEqual({ start: 16, end: 48, context: 24, fresh: 8 });
    expect(windows.at(-1)!.end).toBe(100);
    expect(planLevelWindows(100, 100, 32, 16)).toEqual([]);
  });

  it('a song shorter than a context is one window from 0', () => {
    expect(planLevelWindows(20, 0, 32, 16)).toEqual([{ start: 0, end: 20, context: 0, fresh: 20 }]);
    expect(planLevelWindows(20, 12, 32, 16)).toEqual([{ start: 0, end: 20, context: 12, fresh: 8 }]);
  });

  it('partial windows slide along once the song outgrows the context (co-composition)', () => {
    expect(partialWindow(0, 16, 32)).toEqual({ start: 0, end: 16, context: 0, fresh: 16 });
    expect(partialWindow(16, 16, 32)).toEqual({ start: 0, end: 32, context: 16, fresh: 16 });
    expect(partialWindow(32, 16, 32)).toEqual({ start: 16, end: 48, context: 16, fresh: 16 });
    expect(() => partialWindow(0, 33, 32)).toThrow();
  });

  it('conditioning spans are the window divided by the downsampling, and must be aligned', () => {
    expect(conditioningSpan(64, 96, 4)).toEqual({ start: 16, end: 24 });
    expect(() => conditioningSpan(6, 38, 4)).toThrow(/not aligned/);
  });

  it('batches split like split_batch', () => {
    expect(batchRanges(7, 3)).toEqual([{ start: 0, end: 3 }, { start: 3, end: 6 }, { start: 6, end: 7 }]);
    expect(batchRanges(2, 16)).toEqual([{ start: 0, end: 2 }]);
  });

  it('seconds become whole chunks as in the notebook, at most one context', () => {
    // 4 s at 44.1 kHz and 128 samples per token is 1378 tokens; next chunk multiple of 16 above: 1392.
    expect(secondsToChunkedTokens(4, 44100, 128, 16, 8192)).toBe(1392);
    expect(() => secondsToChunkedTokens(60, 44100, 128, 16, 8192)).toThrow(/more than one context/);
  });

  it('score windows score every token exactly once', () => {
    expect(planScoreWindows(20, 32, 16)).toEqual([{ start: 0, end: 32, scoreFrom: 0, scoreTo: 20 }]);
    const w = planScoreWindows(100, 32, 16);
    expect(w[0]).toEqual({ start: 0, end: 32, scoreFrom: 0, scoreTo: 32 });
    for (let i = 1; i < w.length; i++) {
      expect(w[i].scoreFrom).toBe(w[i - 1].scoreTo);
      expect(w[i].scoreFrom - w[i].start).toBeGreaterThanOrEqual(16);
    }
    expect(w.at(-1)!.scoreTo).toBe(100);
  });
});
