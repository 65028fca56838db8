import { describe, expect, it } from 'vitest';
import { PRIOR_PRESET_NAMES, priorPreset } from '../../src/prior/presets';
import { attnFuncOf } from '../../src/prior/transformer';

describe('alignment heads of the presets', () => {
  it('knows the published heads: 5b_lyrics 68/2 and 1b_lyrics 63/0, each on a lyric layer', () => {
    const five = priorPreset('5b_lyrics');
    const one = priorPreset('1b_lyrics');
    expect([five.alignment_layer, five.alignment_head]).toEqual([68, 2]);
    expect([one.alignment_layer, one.alignment_head]).toEqual([63, 0]);
    expect(attnFuncOf(five.attn_order, 68)).toBe(6); // encoder-decoder attention
    expect(attnFuncOf(one.attn_order, 63)).toBe(7); // prime attention
  });

  it('leaves the head to the head finder for the priors trained here (default_top, tiny_top)', () => {
    for (const name of ['default_top', 'tiny_top']) {
      const c = priorPreset(name);
      expect([c.alignment_layer, c.alignment_head]).toEqual([null, null]);
      expect(Array.from({ length: c.prior_depth }, (_, d) => attnFuncOf(c.attn_order, d)).filter((f) => f === 6).length).toBeGreaterThan(0);
    }
  });

  it('puts every preset\'s alignment head on a lyric layer and within its heads', () => {
    for (const name of PRIOR_PRESET_NAMES) {
      const c = priorPreset(name);
      if (c.alignment_layer === null) continue;
      expect([6, 7]).toContain(attnFuncOf(c.attn_order, c.alignment_layer));
      expect(c.alignment_head!).toBeLessThan(c.heads);
    }
  });
});
