import { describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import { PRIOR_DEFAULTS, validatePriorConfig } from '../../src/prior/config';
import { hpsFromPriorConfig, priorConfigFromHps } from '../../src/prior/hps';
import { PRIOR_PRESET_NAMES, priorPreset } from '../../src/prior/presets';

function errorOf(fn: () => unknown): JukeboxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(JukeboxError);
    return err as JukeboxError;
  }
  throw new Error('expected a JukeboxError');
}

describe('prior presets', () => {
  it('has the published and small_* sets, then the default models\' and tiny test ones, each valid', () => {
    expect(PRIOR_PRESET_NAMES.slice(0, 10)).toEqual([
      '5b', '5b_lyrics', '1b_lyrics', 'upsampler_level_0', 'upsampler_level_1',
      'small_prior', 'small_labelled_prior', 'small_single_enc_dec_prior', 'small_sep_enc_dec_prior', 'small_upsampler',
    ]);
    expect(PRIOR_PRESET_NAMES).toEqual(expect.arrayContaining(['tiny_top', 'tiny_top_no_lyrics', 'tiny_upsampler']));
    for (const name of PRIOR_PRESET_NAMES) expect(() => priorPreset(name)).not.toThrow();
  });

  it('carries the reference hparams that shape each model', () => {
    const p1b = priorPreset('1b_lyrics');
    expect([p1b.n_ctx, p1b.prior_width, p1b.prior_depth, p1b.heads, p1b.attn_order, p1b.blocks]).toEqual([6144, 2048, 72, 2, 12, 64]);
    expect([p1b.single_enc_dec, p1b.labels_v3, p1b.n_tokens, p1b.n_vocab, p1b.y_bins, p1b.t_bins]).toEqual([true, true, 384, 79, [604, 7898], 64]);
    expect([p1b.min_duration, p1b.alignment_layer, p1b.alignment_head]).toEqual([17.84, 63, 0]);
    const p5l = priorPreset('5b_lyrics');
    expect([p5l.prior_depth, p5l.attn_order, p5l.prime_width, p5l.prime_depth, p5l.prime_heads, p5l.prime_blocks]).toEqual([79, 10, 1280, 18, 4, 32]);
    expect([p5l.merged_decoder, p5l.n_tokens, p5l.n_vocab, p5l.y_bins, p5l.alignment_layer, p5l.alignment_head]).toEqual([true, 512, 80, [120, 4111], 68, 2]);
    const up1 = priorPreset('upsampler_level_1');
    expect([up1.level, up1.cond_res_scale, up1.cond_c_res, up1.cond_width, up1.cond_depth, up1.cond_dilation_cycle]).toEqual([1, true, 1, 1024, 16, 8]);
    expect(priorPreset('upsampler_level_0').cond_res_scale).toBe(false);
    const small = priorPreset('small_prior');
    expect([small.sr, small.levels, small.downs_t, small.l_bins, small.level, small.labels]).toEqual([22050, 2, [5, 3], 1024, 1, false]);
  });

  it('names the known presets for an unknown one', () => {
    const err = errorOf(() => priorPreset('7b'));
    expect(err.message).toBe(`unknown prior preset '7b' (known: ${PRIOR_PRESET_NAMES.join(', ')})`);
    expect(err.message).not.toContain('\n');
  });
});

describe('validatePriorConfig', () => {
  it('merges the reference defaults', () => {
    const c = validatePriorConfig({ labels: false });
    expect(c).toEqual({ ...PRIOR_DEFAULTS, labels: false });
  });

  it('names every bad field in one line', () => {
    const err = errorOf(() => validatePriorConfig({ n_ctx: 100, blocks: 16, level: 3, heads: 0, widht: 3 } as never, 'x.json'));
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/^x\.json: invalid prior config: /);
    for (const part of ['unknown field(s) widht', 'heads must be a positive integer', 'level must be an integer in 0..1',
      'blocks (16) must divide the sequence length 100', 'y_bins must be']) {
      expect(err.message).toContain(part);
    }
  });

  it('asks a labelled top-level prior for its duration range', () => {
    const err = errorOf(() => validatePriorConfig({ level: 1, y_bins: [3, 4], max_bow_genre_size: 1 }));
    expect(err.message).toContain('min_duration and max_duration must be seconds');
    // An upsampler with labels takes no time signal, so needs no range (the published ones have none).
    expect(() => validatePriorConfig({ level: 0, y_bins: [3, 4], max_bow_genre_size: 1 })).not.toThrow();
  });
});

describe('hps ↔ config', () => {
  it('round-trips every preset through a JSON hps dict', () => {
    for (const name of PRIOR_PRESET_NAMES) {
      const config = priorPreset(name);
      const hps = JSON.parse(JSON.stringify(hpsFromPriorConfig(config)));
      expect(priorConfigFromHps(hps, 'ckpt')).toEqual(config);
    }
  });

  it('reads a reference hps dict as the unpickler gives it: Map, bigints, tuples, None, extra keys', () => {
    const hps = new Map<string, unknown>([
      ['level', 1n], ['levels', 3], ['downs_t', Object.freeze([3, 2, 2])], ['strides_t', [2, 2, 2]], ['l_bins', 2048n],
      ['n_ctx', 8192n], ['prior_width', 1920], ['prior_depth', 72], ['heads', 1], ['attn_order', 2], ['blocks', 128],
      ['init_scale', 0.4], ['cond_width', 1024], ['cond_depth', 16], ['cond_dilation_growth_rate', 3],
      ['cond_dilation_cycle', 8], ['cond_c_res', 1], ['cond_res_scale', true], ['use_tokens', false],
      ['prime_loss_fraction', 0.0], ['y_bins', Object.freeze([120n, 4111n])], ['t_bins', 128], ['max_bow_genre_size', 5],
      ['n_vocab', 80], ['min_duration', null], ['max_duration', null], ['lr', 0.0003], ['restore_prior', 'x.pth.tar'],
    ]);
    expect(priorConfigFromHps(hps, 'ckpt')).toEqual(priorPreset('upsampler_level_1'));
  });

  it('treats the reference default y_bins=0 as unset and refuses what it cannot build', () => {
    expect(priorConfigFromHps({ labels: false, y_bins: 0 }, 'c').y_bins).toBeNull();
    expect(errorOf(() => priorConfigFromHps({ labels: false, copy_input: true }, 'c.pth.tar')).message)
      .toBe('c.pth.tar: hps copy_input=true is not supported');
    expect(errorOf(() => priorConfigFromHps([1, 2], 'c.pth.tar')).message).toBe("c.pth.tar: the 'hps' entry is not a dict");
  });
});
