import { describe, expect, it } from 'vitest';
import { synthesizeMusic } from '../../src/audio/synth';

describe('synthesizeMusic', () => {
  it('is deterministic per seed, finite, with peak 0.8', () => {
    const a = synthesizeMusic({ seconds: 2, seed: 4 });
    const b = synthesizeMusic({ seconds: 2, seed: 4 });
    const c = synthesizeMusic({ seconds: 2, seed: 5 });
    expect(a.length).toBe(44100);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Math.max(...a.map(Math.abs))).toBeCloseTo(0.8, 6);
  });

  it('leaves the drums out when asked', () => {
    const withDrums = synthesizeMusic({ seconds: 2, seed: 1 });
    const without = synthesizeMusic({ seconds: 2, seed: 1, drums: false });
    expect(Array.from(withDrums)).not.toEqual(Array.from(without));
    expect(without.every(Number.isFinite)).toBe(true);
  });
});
