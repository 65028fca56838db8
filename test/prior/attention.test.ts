import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import { FactoredAttention } from '../../src/prior/attention';
import { randomWeights } from '../../src/vqvae/init';
import { ParameterRegistry, WeightMap } from '../../src/vqvae/weights';
import { tensorLeak, useBackend } from '../helpers';

beforeAll(useBackend);

// n_ctx 24 in 4 rows of block_ctx 6; spread 2; 5 encoder positions; prime_len 5, so the
// reference's _prime_len is (5 // 4 + 1) · 4 = 8.
const N = 2;
const BASE = { nIn: 8, nCtx: 24, nState: 8, nHead: 2, blocks: 4, spread: 2, encoderDims: 5, primeLen: 5 };
const BC = 6;
const PRIME_KEYS = 8;

function build(attnFunc: number): { attn: FactoredAttention; weights: WeightMap } {
  const registry = new ParameterRegistry();
  const attn = new FactoredAttention(registry, 'attn', { ...BASE, attnFunc });
  return { attn, weights: randomWeights(registry, 11 + attnFunc) };
}

/**
 * The key slots of query position i under each attn_func, written out from the reference's
 * code: a position, or -1 for a zero key (logit 0, value 0). Rows are [r·6, r·6 + 6).
 */
function keySlots(attnFunc: number, i: number): number[] {
  const row = Math.floor(i / BC);
  const upTo = (pred: (p: number) => boolean) => Array.from({ length: i + 1 }, (_, p) => p).filter(pred);
  switch (attnFunc) {
    case 0:
      return upTo(() => true);
    case 1:
      return upTo((p) => Math.floor(p / BC) === row);
    case 2:
      return upTo((p) => p % BC === i % BC);
    case 3:
      // prev_block_attn pads one zero row in front and drops the last row.
      return row === 0 ? new Array(BC).fill(-1) : Array.from({ length: BC }, (_, c) => (row - 1) * BC + c);
    case 4:
      // summary: one zero key, then the last position of rows 0..blocks-2, masked as get_mask's 'summary'.
      return [-1, ...upTo((p) => p % BC === BC - 1 && Math.floor(p / BC) <= 2)];
    case 5:
      return [-1, -1, ...upTo((p) => p % BC >= BC - 2 && Math.floor(p / BC) <= 2)];
    case 6:
      return [0, 1, 2, 3, 4];
    default:
      return upTo((p) => p < PRIME_KEYS);
  }
}

const array = (t: tf.Tensor) => t.arraySync() as number[][];

/** x[n] @ w + b in float64. */
function dense(x: number[][], w: number[][], b: number[]): number[][] {
  return x.map((row) => b.map((bo, o) => row.reduce((acc, xi, i) => acc + xi * w[i][o], bo)));
}

/**
 * FactoredAttention recomputed densely in float64 from `keySlots`: returns the output
 * [N, T, n_in] and the probabilities [N, H, T][slots].
 */
function referenceAttention(
  attnFunc: number,
  weights: WeightMap,
  x: number[][][],
  enc: number[][][] | null,
): { out: number[][][]; probs: number[][][][] } {
  const S = BASE.nState;
  const H = BASE.nHead;
  const d = S / H;
  const scale = 1 / Math.sqrt(Math.sqrt(d));
  const g = (name: string) => weights.get(`attn.${name}`);
  const probs: number[][][][] = [];
  const out = x.map((xn, n) => {
    const h = dense(xn, array(g('c_attn.w')), g('c_attn.b').arraySync() as number[]);
    const q = h.map((r) => r.slice(0, S));
    let k = h.map((r) => r.slice(S, 2 * S));
    let v = h.map((r) => r.slice(2 * S, 3 * S));
    if (attnFunc === 6) {
      const kv = dense(enc![n], array(g('c_enc_kv.w')), g('c_enc_kv.b').arraySync() as number[]);
      k = kv.map((r) => r.slice(0, S));
      v = kv.map((r) => r.slice(S, 2 * S));
    }
    const a = q.map(() => new Array<number>(S).fill(0));
    probs.push([]);
    for (let head = 0; head < H; head++) {
      probs[n].push([]);
      const cols = Array.from({ length: d }, (_, c) => head * d + c);
      q.forEach((qi, i) => {
        const slots = keySlots(attnFunc, i);
        const logits = slots.map((p) => (p < 0 ? 0 : cols.reduce((acc, c) => acc + qi[c] * k[p][c], 0)) * scale * scale);
        const max = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - max));
        const sum = e.reduce((s, x) => s + x, 0);
        const p = e.map((x) => x / sum);
        probs[n][head].push(p);
        slots.forEach((pos, j) => {
          if (pos >= 0) for (const c of cols) a[i][c] += p[j] * v[pos][c];
        });
      });
    }
    return dense(a, array(g('c_proj.w')), g('c_proj.b').arraySync() as number[]);
  });
  return { out, probs };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function inputs(attnFunc: number): { x: tf.Tensor3D; enc: tf.Tensor3D | undefined } {
  const x = tf.randomNormal([N, BASE.nCtx, BASE.nIn], 0, 1, 'float32', 100 + attnFunc) as tf.Tensor3D;
  const enc = attnFunc === 6 ? (tf.randomNormal([N, BASE.encoderDims, BASE.nIn], 0, 1, 'float32', 200) as tf.Tensor3D) : undefined;
  return { x, enc };
}

/** Runs the positions of x through the sampling path in chunks of the given sizes. */
function sampleInChunks(attn: FactoredAttention, weights: WeightMap, x: tf.Tensor3D, enc: tf.Tensor3D | undefined, sizes: number[]): Float32Array {
  attn.resetCache();
  let start = 0;
  const parts: tf.Tensor3D[] = [];
  for (const size of sizes) {
    const chunk = x.slice([0, start, 0], [N, size, BASE.nIn]);
    parts.push(attn.forward(weights, chunk, { encoderKv: enc, sample: true }));
    chunk.dispose();
    start += size;
    expect(attn.cacheLength).toBe(start);
  }
  attn.resetCache();
  const joined = tf.concat(parts, 1);
  const data = joined.dataSync() as Float32Array;
  joined.dispose();
  parts.forEach((p) => p.dispose());
  return data;
}

const FUNCS = [0, 1, 2, 3, 4, 5, 6, 7];
const CHUNKINGS: Record<string, number[]> = {
  'token by token': new Array(24).fill(1),
  'chunks across rows': [5, 7, 1, 3, 8],
  'whole rows': [6, 6, 6, 6],
  'a prime then tokens': [13, ...new Array(11).fill(1)],
  'all at once': [24],
};

describe('FactoredAttention', () => {
  it('declares the reference state_dict names and shapes', () => {
    const self = new ParameterRegistry();
    new FactoredAttention(self, 'p.attn', { ...BASE, attnFunc: 1 });
    expect([...self.spec]).toEqual([
      ['p.attn.c_attn.w', [8, 24]],
      ['p.attn.c_attn.b', [24]],
      ['p.attn.c_proj.w', [8, 8]],
      ['p.attn.c_proj.b', [8]],
    ]);
    const cross = new ParameterRegistry();
    new FactoredAttention(cross, 'p.attn', { ...BASE, attnFunc: 6 });
    expect([...cross.spec]).toEqual([
      ['p.attn.c_attn.w', [8, 8]],
      ['p.attn.c_attn.b', [8]],
      ['p.attn.c_enc_kv.w', [8, 16]],
      ['p.attn.c_enc_kv.b', [16]],
      ['p.attn.c_proj.w', [8, 8]],
      ['p.attn.c_proj.b', [8]],
    ]);
  });

  it('rounds _prime_len up past a multiple of blocks, as the reference does', () => {
    expect(build(7).attn.primeKeys).toBe(PRIME_KEYS);
  });

  for (const f of FUNCS) {
    it(`attn_func ${f}: the full pass equals dense attention over the reference's key set`, () => {
      const { attn, weights } = build(f);
      const { x, enc } = inputs(f);
      const want = referenceAttention(f, weights, x.arraySync(), enc?.arraySync() ?? null);
      const got = attn.forward(weights, x, { encoderKv: enc });
      const err = maxAbsDiff(got.dataSync(), want.out.flat(2));
      expect(err).toBeLessThan(2e-5);
      // The attention is far from uniform, so the key sets are really tested.
      const spread = Math.max(...want.probs.flat(3)) - Math.min(...want.probs.flat(3).filter((p) => p > 0));
      expect(spread).toBeGreaterThan(0.3);
      got.dispose();
      x.dispose();
      enc?.dispose();
      weights.dispose();
    });

    for (const [name, sizes] of Object.entries(CHUNKINGS)) {
      it(`attn_func ${f}: sampling ${name} gives the full pass's outputs`, () => {
        const { attn, weights } = build(f);
        const { x, enc } = inputs(f);
        const full = attn.forward(weights, x, { encoderKv: enc });
        const want = full.dataSync();
        const got = sampleInChunks(attn, weights, x, enc, sizes);
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
        full.dispose();
        x.dispose();
        enc?.dispose();
        weights.dispose();
      });
    }
  }

  it('records the probabilities in the reference layout, rows summing to 1', () => {
    // [N·rows, H, q, k] for the row-wise functions, as the reference reshapes before attending.
    const shapes: Record<number, number[]> = {
      0: [N, 2, 24, 24],
      1: [N * 4, 2, 6, 6],
      2: [N * 6, 2, 4, 4],
      3: [N * 4, 2, 6, 6],
      4: [N, 2, 24, 4],
      5: [N, 2, 24, 8],
      6: [N, 2, 24, 5],
      7: [N, 2, 24 - 5, 5],
    };
    for (const f of FUNCS) {
      const { attn, weights } = build(f);
      const { x, enc } = inputs(f);
      attn.recordAttn = true;
      tf.tidy(() => attn.forward(weights, x, { encoderKv: enc }));
      const w = attn.w!;
      expect(w.shape).toEqual(shapes[f]);
      const sums = tf.sum(w, -1);
      if (f === 7) {
        // Only the lyric keys are kept; the keys prime_len.._prime_len-1 hold the rest.
        expect(Math.max(...sums.dataSync())).toBeLessThan(1);
      } else {
        expect(maxAbsDiff(sums.dataSync(), new Float32Array(sums.size).fill(1))).toBeLessThan(1e-5);
      }
      sums.dispose();
      if (f === 0 || f === 4 || f === 7) {
        // Same layout as the float64 recomputation: compare value by value.
        const want = referenceAttention(f, weights, x.arraySync(), null).probs;
        const rows = w.arraySync() as number[][][][];
        let err = 0;
        rows.forEach((byHead, n) =>
          byHead.forEach((byQuery, h) =>
            byQuery.forEach((p, r) => {
              const i = f === 7 ? r + 5 : r;
              p.forEach((value, j) => (err = Math.max(err, Math.abs(value - (want[n][h][i][j] ?? 0)))));
            }),
          ),
        );
        expect(err).toBeLessThan(1e-5);
      }
      w.dispose();
      attn.w = null;
      x.dispose();
      enc?.dispose();
      weights.dispose();
    }
  });

  it('caches only the keys later positions need', () => {
    // Key rows held after 23 positions: dense and transpose block all of them; block the current
    // row (18..22); previous block rows 2 and 3 (12..22); summary its zero key and 5, 11, 17;
    // spread its 2 zero keys and 4, 5, 10, 11, 16, 17; encoder-decoder the 5 encoder positions;
    // prime the first _prime_len = 8.
    const rows: Record<number, number> = { 0: 23, 1: 5, 2: 23, 3: 11, 4: 4, 5: 8, 6: 5, 7: 8 };
    for (const f of FUNCS) {
      const { attn, weights } = build(f);
      const { x, enc } = inputs(f);
      const before = tf.memory().numBytes;
      for (let p = 0; p < 23; p++) {
        const step = x.slice([0, p, 0], [N, 1, BASE.nIn]);
        attn.forward(weights, step, { encoderKv: enc, sample: true }).dispose();
        step.dispose();
      }
      // Keys and values, N rows of n_state fp32 each per position.
      expect(tf.memory().numBytes - before).toBe(rows[f] * 2 * N * BASE.nState * 4);
      attn.resetCache();
      expect(tf.memory().numBytes).toBe(before);
      x.dispose();
      enc?.dispose();
      weights.dispose();
    }
  });

  it('leaks no tensors across a full pass, sampling and resetCache', async () => {
    for (const f of FUNCS) {
      const { attn, weights } = build(f);
      const { x, enc } = inputs(f);
      expect(await tensorLeak(() => attn.forward(weights, x, { encoderKv: enc }).dispose())).toBe(0);
      expect(await tensorLeak(() => sampleInChunks(attn, weights, x, enc, [5, 7, 1, 3, 8]))).toBe(0);
      const first = x.slice([0, 0, 0], [N, 7, BASE.nIn]);
      expect(
        await tensorLeak(() => {
          attn.forward(weights, first, { encoderKv: enc, sample: true }).dispose();
          attn.resetCache();
        }),
      ).toBe(0);
      first.dispose();
      x.dispose();
      enc?.dispose();
      weights.dispose();
    }
  });

  it('names the problem on bad use', () => {
    const { attn, weights } = build(6);
    const { x } = inputs(0);
    expect(() => attn.forward(weights, x)).toThrow(new JukeboxError('attention: an encoder-decoder layer needs encoderKv'));
    const dense = build(0);
    dense.attn.forward(dense.weights, x, { sample: true }).dispose();
    const more = x.slice([0, 0, 0], [N, 1, BASE.nIn]);
    expect(() => dense.attn.forward(dense.weights, more, { sample: true })).toThrow(/positions 24\.\.24 run past n_ctx 24/);
    dense.attn.resetCache();
    dense.attn.recordAttn = true;
    expect(() => dense.attn.forward(dense.weights, more, { sample: true })).toThrow(/while sampling, only the lyric layers/);
    expect(() => new FactoredAttention(new ParameterRegistry(), 'a', { ...BASE, attnFunc: 1, blocks: 5 })).toThrow(
      /block attention needs blocks dividing n_ctx 24, got 5/,
    );
    more.dispose();
    x.dispose();
    weights.dispose();
    dense.weights.dispose();
  });
});
