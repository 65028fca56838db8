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
 * and gives the reference's label rows, teacher-forced logits, losses, attention and greedy tokens.
 */

const DIR = path.join(__dirname, '..', 'fixtures', 'prior');
const STRUCTURES = ['top_1b_like', 'top_5b_like', 'upsampler_l1'] as const;
const FORMATS = { top_1b_like: 'torch-zip', top_5b_like: 'torch-legacy', upsampler_l1: 'torch-legacy' };

beforeAll(useBackend);

/**
 * Largest |logit − reference| allowed, relative to the largest |logit|, and largest attention
 * probability error. The 1b-like fixture's sharp attention (16 layers, 3× variance-preserving
 * query/key projections) amplifies float32 rounding along the sequence. Measured against the
 * reference run in float64 on the same checkpoint and inputs, the reference's own float32 logits
 * are off by 7.3e-5 of the largest logit (relative L2 2.3e-5) and ours by 7.0e-5 (wasm) and 1.1e-4
 * (cpu backend), so ours and the reference's differ by up to about 2e-4 there: two roundings, not a
 * modelling difference (every greedy token matches). Its bounds have that margin; the other
 * structures keep 1e-4.
 */
const MAX_LOGIT_ERROR = { top_1b_like: 3e-4, top_5b_like: 1e-4, upsampler_l1: 1e-4 };
const MAX_ATTENTION_ERROR = { top_1b_like: 5e-4, top_5b_like: 1e-4, upsampler_l1: 1e-4 };

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
        let err = 0;
        for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
        const l2 = relativeL2(got, want);
        console.log(`${name}: ${key} (layer ${layer}) relative L2 error ${l2.toExponential(2)}, max abs error ${err.toExponential(2)}`);
        expect(err).toBeLessThan(MAX_ATTENTION_ERROR[name]);
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
          // The KV cache gives the logits of a full pass over the same tokens.
          const full = prior.forward(out.tokens, { y, zConds, getPreds: true }).preds!;
          const kvErr = maxRelativeError(out.preds.dataSync(), full.dataSync());
          console.log(`${name}: ${m.mode} KV-cache logits vs full pass, max |diff| / max |logit| ${kvErr.toExponential(2)}`);
          expect(kvErr).toBeLessThan(1e-4);
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
