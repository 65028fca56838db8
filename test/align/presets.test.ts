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

  it('names the head train-prior --align-loss supervises in default_top (layer 7 head 0, its last encoder-decoder layer) and leaves tiny_top\'s to the head finder', () => {
    const d = priorPreset('default_top');
    expect([d.alignment_layer, d.alignment_head]).toEqual([7, 0]);
    expect(Array.from({ length: d.prior_depth }, (_, l) => attnFuncOf(d.attn_order, l)).lastIndexOf(6)).toBe(7);
    const t = priorPreset('tiny_top');
    expect([t.alignment_layer, t.alignment_head]).toEqual([null, null]);
    expect(Array.from({ length: t.prior_depth }, (_, l) => attnFuncOf(t.attn_order, l)).filter((f) => f === 6).length).toBeGreaterThan(0);
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
