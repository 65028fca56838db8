import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsTensor } from '../../src/checkpoint/safetensors';
import { SongMetadata } from '../../src/labels';
import { loadPrior } from '../../src/prior/load';
import { Prior } from '../../src/prior/prior';
import { Rng } from '../../src/rng';
import { relativeL2, tensorLeak, useBackend } from '../helpers';
import { maxRelativeError } from './helpers';

/**
 * Parity with openai/jukebox on the three fixture priors (test/fixtures/prior/README.md): each
 * reference checkpoint (zip float32, legacy float16, legacy float32) loads through its own hps,
 * and gives the reference's label rows, teacher-forced logits, losses, attention and greedy tokens;
 * its logits and attention are as close to the reference computed in float64 as the reference's
 * own float32 outputs are.
 */

const DIR = path.join(__dirname, '..', 'fixtures', 'prior');
const STRUCTURES = ['top_1b_like', 'top_5b_like', 'upsampler_l1'] as const;
const FORMATS = { top_1b_like: 'torch-zip', top_5b_like: 'torch-legacy', upsampler_l1: 'torch-legacy' };

beforeAll(useBackend);

/**
 * Against the reference's float32 outputs: largest |logit − reference| allowed, relative to the
 * largest |logit|, and largest attention probability error. The 1b-like fixture's sharp attention
 * (16 layers, 3× variance-preserving query/key projections) amplifies float32 rounding along the
 * sequence, so two float32 runs of the same model differ there by more than 1e-4 (every greedy
 * token still matches); its bounds have that margin, the other structures keep 1e-4. That this is
 * rounding and not a modelling difference is what the float64 comparison below proves.
 */
const MAX_LOGIT_ERROR = { top_1b_like: 3e-4, top_5b_like: 1e-4, upsampler_l1: 1e-4 };
const MAX_ATTENTION_ERROR = { top_1b_like: 5e-4, top_5b_like: 1e-4, upsampler_l1: 1e-4 };

/**
 * Against the truth: each fixture also holds the reference's teacher-forced logits and recorded
 * attention computed in float64 (`*_f64`, the same checkpoint values and inputs; see the fixture
 * README), and the reference's own float32 error against them (metadata `reference_f32_vs_f64`).
 * Asserted for each error measure (logits: relative L2 and max |diff| / max |logit|; attention:
 * max absolute difference), with e_ours our error and e_ref the reference float32's, both against
 * float64:
 *
 *     e_ours ≤ max(1e-4, 2 · e_ref)
 *
 * i.e. within the 1e-4 target, or, where float32 itself does not reach it, no more than
 * twice the reference's own float32 error. Measured (wasm and cpu backends, README table), the
 * 1e-4 target holds everywhere except on `top_1b_like`: its lyric attention (the reference's
 * float32 is off by 1.7e-4 itself; ours by 2.3e-4 wasm, 2.1e-4 cpu: 1.3× and 1.2×) and its
 * logits' max |diff| / max |logit| (reference 6.9e-5; ours 1.12e-4 wasm, 1.14e-4 cpu: 1.6× and
 * 1.7×, so 1.5× would not hold). There both float32 errors lie along the same sensitive direction
 * with opposite signs (correlation −0.7), ours about 1.4× the reference's at every quantile
 * (median to 99.99th), which is why ours and the reference's float32 logits differ by their sum,
 * 1.8e-4. A modelling difference (a wrong mask, scale, or layer order) would be off by orders of
 * magnitude more.
 */
const F64_TARGET = 1e-4;
const F64_RATIO = 2;
function f64Bound(referenceError: number): number {
  return Math.max(F64_TARGET, F64_RATIO * referenceError);
}

function maxAbsError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
  return err;
}

interface Fixture {
  tensors: Map<string, SafetensorsTensor>;
  meta: Record<string, string>;
}

function int32(f: Fixture, name: string): tf.Tensor2D {
  const t = f.tensors.get(name)!;
  return tf.tensor2d(t.data as Int32Array, t.shape as [number, number], 'int32');
}

function values(f: Fixture, name: string): Float32Array {
  return f.tensors.get(name)!.data as Float32Array;
}

/** Rows 0..N-1 of `got` equal `want` up to each row's first near-tie (-1: none); counts compared tokens. */
function compareGreedy(got: Int32Array, want: Int32Array, n: number, firstTie: number[], skip: number): { matched: number; compared: number } {
  const len = want.length / n;
  let matched = 0;
  let compared = 0;
  for (let i = 0; i < n; i++) {
    const end = firstTie[i] < 0 ? len : skip + firstTie[i];
    for (let t = skip; t < end; t++) {
      compared++;
      if (got[i * len + t] === want[i * len + t]) matched++;
    }
  }
  return { matched, compared };
}

describe.each(STRUCTURES)('%s: parity with the reference', (name) => {
  let prior: Prior;
  let fx: Fixture;
  let z: tf.Tensor2D;
  let y: tf.Tensor2D;
  let zConds: tf.Tensor2D[] | null;
  beforeAll(() => {
    const loaded = loadPrior(path.join(DIR, fx0(name).meta.checkpoint), { labelIds: path.join(DIR, 'label_ids') });
    expect(loaded.format).toBe(FORMATS[name]);
    expect(loaded.configSource).toBe('hps');
    prior = loaded.model;
    fx = fx0(name);
    z = int32(fx, 'z');
    y = int32(fx, 'y');
    zConds = fx.tensors.has('z_cond') ? [int32(fx, 'z_cond')] : null;
  });
  afterAll(() => {
    tf.dispose([z, y, ...(zConds ?? [])]);
    prior.dispose();
  });

  it('builds the reference label rows and lyric window from the song metadata', () => {
    const metas = (JSON.parse(fx.meta.label_metas) as { artist: string; genre: string; lyrics: string; total_length: number; offset: number }[])
      .map((m): SongMetadata => ({ artist: m.artist, genre: m.genre, lyrics: m.lyrics, totalSeconds: m.total_length / 44100, offsetSeconds: m.offset / 44100 }));
    const labels = prior.labeller!.getBatchLabels(metas);
    const got = prior.getY(labels, Number(fx.meta.window_start))!;
    expect(Array.from(got.y.dataSync())).toEqual(Array.from(fx.tensors.get('y')!.data as Int32Array));
    if (fx.tensors.has('lyric_indices')) expect(got.indices.flat()).toEqual(Array.from(fx.tensors.get('lyric_indices')!.data as Int32Array));
    got.y.dispose();
  });

  it('gives the reference logits and losses (teacher-forced)', async () => {
    const leak = await tensorLeak(() => {
      const r = prior.forward(z, { y, zConds, getPreds: true });
      expect(r.preds!.shape).toEqual(fx.tensors.get('preds')!.shape);
      const got = r.preds!.dataSync();
      const want = values(fx, 'preds');
      const l2 = relativeL2(got, want);
      const err = maxRelativeError(got, want);
      console.log(`${name}: logits relative L2 error ${l2.toExponential(2)}, max |diff| / max |logit| ${err.toExponential(2)}`);
      expect(l2).toBeLessThan(1e-4);
      expect(err).toBeLessThan(MAX_LOGIT_ERROR[name]);
      const truth = values(fx, 'preds_f64');
      const refL2 = relativeL2(want, truth);
      const refErr = maxRelativeError(want, truth);
      const recorded = JSON.parse(fx.meta.reference_f32_vs_f64) as Record<string, number>;
      // The stored truth is float32-rounded float64 (≤ 6e-8 relative): the recorded errors hold.
      expect(refL2).toBeCloseTo(recorded.preds_relative_l2, 6);
      expect(refErr).toBeCloseTo(recorded.preds_max_abs_diff_over_max_abs, 6);
      const oursL2 = relativeL2(got, truth);
      const oursErr = maxRelativeError(got, truth);
      console.log(`${name}: logits vs float64: ours relative L2 ${oursL2.toExponential(2)}, max |diff| / max |logit| ${oursErr.toExponential(2)}; `
        + `reference float32 ${refL2.toExponential(2)}, ${refErr.toExponential(2)}`);
      expect(oursL2).toBeLessThanOrEqual(f64Bound(refL2));
      expect(oursErr).toBeLessThanOrEqual(f64Bound(refErr));
      for (const [key, got] of [['loss', r.loss], ['gen_loss', r.genLoss], ['prime_loss', r.primeLoss]] as const) {
        const want = values(fx, key)[0];
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)));
      }
      r.preds!.dispose();
    });
    expect(leak).toBe(0);
  });

  it('records the reference attention weights (a self-attention layer and the lyric layer)', async () => {
    const self = Number(fx.meta.attn_self_layer);
    const lyric = JSON.parse(fx.meta.attn_lyric_layer) as number | null;
    const layers = new Set(lyric === null ? [self] : [self, lyric]);
    const leak = await tensorLeak(() => {
      const r = prior.forward(z, { y, zConds, recordAttention: layers });
      for (const [layer, key] of [[self, 'attn_self'], [lyric, 'attn_lyric']] as const) {
        if (layer === null) continue;
        const w = r.attention!.get(layer)!;
        expect(w.shape).toEqual(fx.tensors.get(key)!.shape);
        const got = w.dataSync();
        const want = values(fx, key);
        const err = maxAbsError(got, want);
        const l2 = relativeL2(got, want);
        const truth = values(fx, `${key}_f64`);
        const refErr = maxAbsError(want, truth);
        expect(refErr).toBeCloseTo((JSON.parse(fx.meta.reference_f32_vs_f64) as Record<string, number>)[`${key}_max_abs_diff`], 6);
        const oursErr = maxAbsError(got, truth);
        console.log(`${name}: ${key} (layer ${layer}) relative L2 error ${l2.toExponential(2)}, max abs error ${err.toExponential(2)}; `
          + `vs float64: ours ${oursErr.toExponential(2)}, reference float32 ${refErr.toExponential(2)}`);
        expect(err).toBeLessThan(MAX_ATTENTION_ERROR[name]);
        expect(oursErr).toBeLessThanOrEqual(f64Bound(refErr));
      }
      tf.dispose([...r.attention!.values()]);
    });
    expect(leak).toBe(0);
  });

  it('samples the reference greedy tokens: ancestral, ancestral short, primed in chunks', async () => {
    const s = JSON.parse(fx.meta.sampling) as { ancestral_chunk_size: number | null; ancestral_short_sample_tokens: number; primed_k: number; primed_chunk_size: number };
    const ties = JSON.parse(fx.meta.first_near_tie) as Record<string, number[]>;
    const k = s.primed_k;
    const prompt = z.slice([0, 0], [-1, k]);
    const modes = [
      { mode: 'ancestral', z: null, chunkSize: s.ancestral_chunk_size ?? undefined, sampleTokens: undefined, skip: 0 },
      { mode: 'ancestral_short', z: null, chunkSize: s.ancestral_chunk_size ?? undefined, sampleTokens: s.ancestral_short_sample_tokens, skip: 0 },
      { mode: 'primed', z: prompt, chunkSize: s.primed_chunk_size, sampleTokens: undefined, skip: k },
    ];
    let matched = 0;
    let compared = 0;
    const leak = await tensorLeak(async () => {
      for (const m of modes) {
        const out = await prior.sampleWithPreds({
          nSamples: 2, z: m.z, zConds, y, temperature: 1, topK: 1, chunkSize: m.chunkSize, sampleTokens: m.sampleTokens, rng: new Rng(0),
        });
        const want = fx.tensors.get(`${m.mode}_tokens`)!;
        expect(out.tokens.shape).toEqual(want.shape);
        const r = compareGreedy(out.tokens.dataSync() as Int32Array, want.data as Int32Array, 2, ties[m.mode], m.skip);
        if (m.skip > 0) {
          const kept = tf.tidy(() => Array.from(out.tokens.slice([0, 0], [-1, k]).dataSync()));
          expect(kept).toEqual(Array.from(prompt.dataSync()));
        }
        if (fx.tensors.has(`${m.mode}_joint_tokens`)) {
          // The joint sequence before clamping: lyric tokens the model drew at music positions included.
          const joint = fx.tensors.get(`${m.mode}_joint_tokens`)!;
          const jr = compareGreedy(out.sequence.dataSync() as Int32Array, joint.data as Int32Array, 2, ties[m.mode], joint.shape[1] - (want.shape[1] - m.skip));
          expect(jr.matched).toBe(jr.compared);
        }
        if (!prior.singleEncDec && m.sampleTokens === undefined) {
          // The KV cache gives the logits of a full pass over the same tokens. The bound is the
          // 2x-of-float32 rule above: the reference's own KV-cache path differs from its full pass
          // by 3.8e-5 on top_5b_like primed; the tfjs path on the cpu backend measured 1.01e-4 there.
          const full = prior.forward(out.tokens, { y, zConds, getPreds: true }).preds!;
          const kvErr = maxRelativeError(out.preds.dataSync(), full.dataSync());
          console.log(`${name}: ${m.mode} KV-cache logits vs full pass, max |diff| / max |logit| ${kvErr.toExponential(2)}`);
          expect(kvErr).toBeLessThan(2e-4);
          full.dispose();
        }
        console.log(`${name}: ${m.mode} greedy tokens ${r.matched}/${r.compared}`);
        expect(r.matched).toBe(r.compared);
        matched += r.matched;
        compared += r.compared;
        tf.dispose([out.tokens, out.sequence, out.preds]);
      }
    });
    prompt.dispose();
    expect(leak).toBe(0);
    console.log(`${name}: greedy tokens matched ${matched}/${compared}`);
  });
});

const cache = new Map<string, Fixture>();
function fx0(name: string): Fixture {
  if (!cache.has(name)) {
    const { tensors, metadata } = readSafetensors(path.join(DIR, `${name}_io.safetensors`));
    cache.set(name, { tensors, meta: metadata });
  }
  return cache.get(name)!;
}
