import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import { Conv1D, LayerNorm, filterLogits, filterLogitsRows, gelu, quickGelu, swish } from '../../src/prior/ops';
import { Transformer, TransformerConfig, attnFuncOf } from '../../src/prior/transformer';
import { randomWeights } from '../../src/vqvae/init';
import { ParameterRegistry, WeightMap } from '../../src/vqvae/weights';
import { tensorLeak, useBackend } from '../helpers';

beforeAll(useBackend);

function close(got: ArrayLike<number>, want: number[], tol = 1e-6): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThan(tol));
}

describe('transformer ops', () => {
  it('LayerNorm: (x − mean) / sqrt(biased var + 1e-5) · weight + bias, hand-worked', () => {
    const registry = new ParameterRegistry();
    const ln = new LayerNorm(registry, 'ln', 4);
    expect([...registry.spec]).toEqual([['ln.weight', [4]], ['ln.bias', [4]]]);
    const w = new WeightMap();
    w.set('ln.weight', tf.tensor1d([1, 2, 0.5, 1]));
    w.set('ln.bias', tf.tensor1d([0, 1, 0, -1]));
    // mean 2.5, var 1.25: (x − 2.5) / sqrt(1.25001) = [−1.341635, −0.447212, 0.447212, 1.341635].
    const y = ln.apply(w, tf.tensor3d([[[1, 2, 3, 4]]]));
    close(y.dataSync(), [-1.3416354, 0.1055764, 0.2236059, 0.3416354]);
    y.dispose();
    w.dispose();
  });

  it('fresh LayerNorm gains sit at 1 ± 0.1', () => {
    const registry = new ParameterRegistry();
    new LayerNorm(registry, 'ln', 2000);
    const w = randomWeights(registry, 1);
    const gain = Array.from(w.get('ln.weight').dataSync());
    const mean = gain.reduce((s, x) => s + x, 0) / gain.length;
    const std = Math.sqrt(gain.reduce((s, x) => s + (x - mean) ** 2, 0) / gain.length);
    expect(Math.abs(mean - 1)).toBeLessThan(0.01);
    expect(Math.abs(std - 0.1)).toBeLessThan(0.01);
    w.dispose();
  });

  it('activations match their formulas at hand-worked points', () => {
    const x = tf.tensor1d([1, -2, 0.5]);
    // quick_gelu: x · sigmoid(1.702 x); gelu: the tanh form; swish: x · sigmoid(x).
    close(quickGelu(x).dataSync(), [0.8457958, -0.0643414, 0.3503884]);
    close(gelu(x).dataSync(), [0.841192, -0.0454023, 0.345714]);
    close(swish(x).dataSync(), [0.7310586, -0.2384058, 0.3112297]);
    x.dispose();
  });

  it('Conv1D is x @ w + b with w stored [n_in, n_out]', () => {
    const registry = new ParameterRegistry();
    const conv = new Conv1D(registry, 'c', 2, 3);
    expect([...registry.spec]).toEqual([['c.w', [2, 3]], ['c.b', [3]]]);
    const w = new WeightMap();
    w.set('c.w', tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
    w.set('c.b', tf.tensor1d([0.5, -1, 0]));
    const y = conv.apply(w, tf.tensor3d([[[1, -1], [2, 0]]]));
    expect(y.shape).toEqual([1, 2, 3]);
    close(y.dataSync(), [-2.5, -4, -3, 2.5, 3, 6]);
    y.dispose();
    w.dispose();
  });

  it('Conv1D over a batch (multiplied as one [N·T, n_in] matrix) gives each item its own x @ w + b', async () => {
    const registry = new ParameterRegistry();
    const conv = new Conv1D(registry, 'c', 16, 12);
    const w = randomWeights(registry, 3);
    const x = tf.randomNormal([3, 5, 16], 0, 1, 'float32', 7) as tf.Tensor3D;
    let y!: tf.Tensor3D;
    // The output is the one tensor left.
    expect(await tensorLeak(() => (y = conv.apply(w, x)))).toBe(1);
    expect(y.shape).toEqual([3, 5, 12]);
    const xs = x.arraySync();
    const ws = w.get('c.w').arraySync() as number[][];
    const bs = w.get('c.b').arraySync() as number[];
    const want = xs.flatMap((item) => item.flatMap((row) => bs.map((b, j) => row.reduce((s, v, i) => s + v * ws[i][j], b))));
    close(y.dataSync(), want, 1e-5);
    tf.dispose([x, y]);
    w.dispose();
  });

  describe('filterLogits', () => {
    const filtered = (logits: number[], topK: number, topP: number) => {
      const row = Float32Array.from(logits);
      filterLogitsRows(row, logits.length, topK, topP);
      return [...row];
    };
    const inf = -Infinity;
    // Probabilities 0.15, 0.5, 0.05, 0.3 by id; sorted: 0.5, 0.3, 0.15, 0.05 (cumulative 0.5, 0.8, 0.95, 1).
    const logits = [0.15, 0.5, 0.05, 0.3].map(Math.log);

    it('top-k keeps the k largest, and every tie of the k-th', () => {
      expect(filtered([1, 3, 2, 0], 2, 0)).toEqual([inf, 3, 2, inf]);
      expect(filtered([1, 3, 2, 2], 2, 0)).toEqual([inf, 3, 2, 2]);
      expect(filtered([1, 3, 2, 0], 1, 0)).toEqual([inf, 3, inf, inf]);
      expect(filtered([1, 3, 2, 0], 9, 0)).toEqual([1, 3, 2, 0]);
    });

    it('top-p keeps the tokens up to and including the first past the threshold', () => {
      const kept = (topP: number) => filtered(logits, 0, topP).map((l) => l > -Infinity);
      expect(kept(0.4)).toEqual([false, true, false, false]); // 0.5 > 0.4: only the top token
      expect(kept(0.7)).toEqual([false, true, false, true]); // 0.8 > 0.7 at the second
      expect(kept(0.9)).toEqual([true, true, false, true]);
      expect(kept(1)).toEqual([true, true, true, true]);
      // Kept logits are unchanged.
      expect(filtered(logits, 0, 0.7)[1]).toBe(Math.fround(logits[1]));
    });

    it('top-k applies before top-p: top-p then sees the renormalised survivors', () => {
      const kept = (topK: number, topP: number) => filtered(logits, topK, topP).map((l) => l > -Infinity);
      // Alone, 0.82 is first passed at 0.95: three tokens. After top-3 the cumulative
      // probabilities are 0.526, 0.842: two tokens.
      expect(kept(0, 0.82)).toEqual([true, true, false, true]);
      expect(kept(3, 0.82)).toEqual([false, true, false, true]);
    });

    it('top-p breaks ties by the lower token id', () => {
      // Each 2 has probability 0.44: top-p 0.3 keeps only the first of the tied pair.
      expect(filtered([0, 2, 2, 0], 0, 0.3)).toEqual([inf, 2, inf, inf]);
    });

    it('filters every row of a tensor on its own and leaves settings 0/0 alone', () => {
      const t = tf.tensor3d([[[1, 3, 2, 0]], [[5, 4, 6, 7]]]);
      const out = filterLogits(t, 2, 0);
      expect(out.shape).toEqual([2, 1, 4]);
      expect([...out.dataSync()]).toEqual([inf, 3, 2, inf, inf, inf, 6, 7]);
      const same = filterLogits(t, 0, 0);
      expect([...same.dataSync()]).toEqual([...t.dataSync()]);
      tf.dispose([t, out, same]);
    });

    it('names a bad setting', () => {
      expect(() => filtered(logits, -1, 0)).toThrow(new JukeboxError('filterLogits: top-k must be a whole number ≥ 0, got -1'));
      expect(() => filtered(logits, 0, 1.5)).toThrow(new JukeboxError('filterLogits: top-p must lie in [0, 1], got 1.5'));
    });
  });
});

describe('attn_order table', () => {
  /** Each order's first layers, written out from the reference's table. */
  const expected: Record<number, string> = {
    0: '0000',
    1: '1212',
    2: '123123',
    3: '1414',
    4: '1515',
    5: '14111411',
    6: '12361236',
    7: '123123123123123612312312312312361',
    8: '12312312361231231236',
    9: '12301230',
    // Orders 11 and 12 index [1,2,3] by d % 3 (not d % 16), so the phase shifts after each special layer.
    11: '123123123123123' + '6' + '231231231231231' + '6' + '312312312312312' + '0',
    12: '123123123123123' + '7' + '231231231231231' + '7' + '312312312312312' + '0',
  };
  for (const [order, funcs] of Object.entries(expected)) {
    it(`attn_order ${order}`, () => {
      const got = Array.from({ length: funcs.length }, (_, d) => attnFuncOf(Number(order), d)).join('');
      expect(got).toBe(funcs);
    });
  }

  it('attn_order 10: three triples, then seven groups of three triples and an encoder-decoder layer, cycling at 79', () => {
    const funcs = Array.from({ length: 79 + 10 }, (_, d) => attnFuncOf(10, d));
    const six = funcs.flatMap((f, d) => (f === 6 ? [d] : []));
    expect(six).toEqual([18, 28, 38, 48, 58, 68, 78]);
    expect(funcs.slice(0, 18).join('')).toBe('123123123123123123');
    expect(funcs.slice(79).join('')).toBe(funcs.slice(0, 10).join(''));
  });

  it('rejects an unknown order', () => {
    expect(() => attnFuncOf(13, 0)).toThrow(new JukeboxError('transformer config: attn_order must be 0..12, got 13'));
  });
});

const BASE: TransformerConfig = {
  width: 8,
  nCtx: 24,
  heads: 2,
  depth: 2,
  attnOrder: 0,
  blocks: 4,
  spread: 2,
  encoderDims: 5,
  primeLen: 5,
  mAttn: 0.5,
  mMlp: 2,
  resScale: false,
  afn: 'quick_gelu',
};
const N = 2;

function build(cfg: Partial<TransformerConfig>, seed = 3): { model: Transformer; weights: WeightMap; registry: ParameterRegistry } {
  const registry = new ParameterRegistry();
  const model = new Transformer(registry, 'prior.transformer', { ...BASE, ...cfg });
  return { model, weights: randomWeights(registry, seed), registry };
}

function inputs(seed: number): { x: tf.Tensor3D; enc: tf.Tensor3D } {
  return {
    x: tf.randomNormal([N, BASE.nCtx, BASE.width], 0, 1, 'float32', seed) as tf.Tensor3D,
    enc: tf.randomNormal([N, BASE.encoderDims, BASE.width], 0, 1, 'float32', seed + 1) as tf.Tensor3D,
  };
}

function sampleInChunks(model: Transformer, w: WeightMap, x: tf.Tensor3D, enc: tf.Tensor3D, sizes: number[]): Float32Array {
  model.resetCache();
  const parts: tf.Tensor3D[] = [];
  let start = 0;
  for (const size of sizes) {
    const chunk = x.slice([0, start, 0], [N, size, BASE.width]);
    parts.push(model.forward(w, chunk, { encoderKv: enc, sample: true }));
    chunk.dispose();
    start += size;
    expect(model.cacheLength).toBe(start);
  }
  model.resetCache();
  const joined = tf.concat(parts, 1);
  const data = joined.dataSync() as Float32Array;
  tf.dispose([joined, ...parts]);
  return data;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('Transformer', () => {
  it('declares the reference state_dict keys in its order', () => {
    const { registry, weights } = build({ attnOrder: 6, depth: 4 });
    const keys = [...registry.spec.keys()].filter((k) => k.startsWith('prior.transformer._attn_mods.3.'));
    expect(keys).toEqual(
      [
        'attn.c_attn.w', 'attn.c_attn.b', 'attn.c_enc_kv.w', 'attn.c_enc_kv.b', 'attn.c_proj.w', 'attn.c_proj.b',
        'ln_0.weight', 'ln_0.bias', 'mlp.c_fc.w', 'mlp.c_fc.b', 'mlp.c_proj.w', 'mlp.c_proj.b', 'ln_1.weight', 'ln_1.bias',
      ].map((k) => `prior.transformer._attn_mods.3.${k}`),
    );
    // n_state = int(m_attn · width) = 4; MLP width int(m_mlp · width) = 16.
    expect(registry.spec.get('prior.transformer._attn_mods.0.attn.c_attn.w')).toEqual([8, 12]);
    expect(registry.spec.get('prior.transformer._attn_mods.3.attn.c_attn.w')).toEqual([8, 4]);
    expect(registry.spec.get('prior.transformer._attn_mods.3.attn.c_enc_kv.w')).toEqual([8, 8]);
    expect(registry.spec.get('prior.transformer._attn_mods.0.mlp.c_fc.w')).toEqual([8, 16]);
    expect(registry.spec.size).toBe(4 * 12 + 2);
    weights.dispose();
  });

  for (const resScale of [false, true]) {
    it(`a block is x + a + m with a = attn(ln_0(x)), m = mlp(ln_1(x + a))${resScale ? ', scaled by 1/depth' : ''}`, () => {
      const { model, weights } = build({ depth: 2, attnOrder: 2, resScale });
      const { x } = inputs(5);
      const [l0, l1] = model.attnMods;
      const want = tf.tidy(() => {
        let h = x;
        for (const l of [l0, l1]) {
          const a = l.attn.forward(weights, l.ln0.apply(weights, h));
          const m = l.mlp.cProj.apply(weights, quickGelu(l.mlp.cFc.apply(weights, l.ln1.apply(weights, tf.add(h, a)))) as tf.Tensor3D);
          h = resScale ? tf.add(h, tf.mul(tf.add(a, m), 0.5)) : tf.add(tf.add(h, a), m);
        }
        return h;
      });
      const got = model.forward(weights, x);
      expect(maxAbsDiff(got.dataSync(), want.dataSync())).toBeLessThan(1e-6);
      tf.dispose([got, want, x]);
      weights.dispose();
    });
  }

  // Depths that reach every attention function each order uses.
  const depths: Record<number, number> = { 0: 2, 1: 2, 2: 3, 3: 2, 4: 2, 5: 4, 6: 4, 7: 16, 8: 10, 9: 4, 10: 19, 11: 16, 12: 16 };
  for (let order = 0; order <= 12; order++) {
    it(`attn_order ${order}: sampling token by token and in chunks gives the full pass's outputs`, () => {
      const { model, weights } = build({ attnOrder: order, depth: depths[order] }, 20 + order);
      const { x, enc } = inputs(40 + order);
      const full = model.forward(weights, x, { encoderKv: enc });
      const want = full.dataSync();
      for (const sizes of [new Array(24).fill(1), [5, 7, 1, 3, 8], [13, ...new Array(11).fill(1)]]) {
        expect(maxAbsDiff(sampleInChunks(model, weights, x, enc, sizes), want)).toBeLessThan(1e-5);
      }
      tf.dispose([full, x, enc]);
      weights.dispose();
    });
  }

  it('records the attention of the layers asked for, in layer order, until taken', () => {
    const { model, weights } = build({ attnOrder: 12, depth: 16 });
    const { x } = inputs(7);
    model.forward(weights, x, { recordAttention: new Set([0, 1, 15]) }).dispose();
    const taken = model.takeAttention();
    expect([...taken.keys()]).toEqual([0, 1, 15]);
    expect(taken.get(0)!.shape).toEqual([N * 4, 2, 6, 6]); // block attention: [N·rows, H, bc, bc]
    expect(taken.get(1)!.shape).toEqual([N * 6, 2, 4, 4]); // transpose block: [N·bc, H, rows, rows]
    expect(taken.get(15)!.shape).toEqual([N, 2, 24 - 5, 5]); // prime: music queries, lyric keys
    const rows = tf.sum(taken.get(0)!, -1);
    expect(maxAbsDiff(rows.dataSync(), new Array(rows.size).fill(1))).toBeLessThan(1e-5);
    rows.dispose();
    taken.forEach((t) => t.dispose());
    expect(model.takeAttention().size).toBe(0);

    model.forward(weights, x, { recordAttention: true }).dispose();
    const all = model.takeAttention();
    expect(all.size).toBe(16);
    all.forEach((t) => t.dispose());
    model.forward(weights, x).dispose();
    expect(model.takeAttention().size).toBe(0);
    expect(() => model.forward(weights, x, { sample: true, recordAttention: true })).toThrow(/while sampling, recordAttention takes only lyric layers/);
    x.dispose();
    weights.dispose();
  });

  it('leaks no tensors across forward, recording, sampling, resetCache and dispose', async () => {
    const { model, weights } = build({ attnOrder: 6, depth: 4 });
    const { x, enc } = inputs(9);
    expect(await tensorLeak(() => model.forward(weights, x, { encoderKv: enc }).dispose())).toBe(0);
    expect(
      await tensorLeak(() => {
        model.forward(weights, x, { encoderKv: enc, recordAttention: true }).dispose();
        model.takeAttention().forEach((t) => t.dispose());
      }),
    ).toBe(0);
    expect(await tensorLeak(() => sampleInChunks(model, weights, x, enc, [5, 7, 1, 3, 8]))).toBe(0);
    expect(
      await tensorLeak(() => {
        const first = x.slice([0, 0, 0], [N, 3, BASE.width]);
        model.forward(weights, first, { encoderKv: enc, sample: true }).dispose();
        model.forward(weights, x, { encoderKv: enc, recordAttention: new Set([1]) }).dispose();
        first.dispose();
        model.dispose();
      }),
    ).toBe(0);
    tf.dispose([x, enc]);
    weights.dispose();
  });

  it('asks for the encoder output when it has encoder-decoder layers', () => {
    const { model, weights } = build({ attnOrder: 6, depth: 4 });
    const { x, enc } = inputs(9);
    expect(() => model.forward(weights, x)).toThrow(new JukeboxError('transformer: encoder-decoder layers need encoderKv'));
    // While sampling only the first call needs it: later steps reuse the cached projections.
    const first = x.slice([0, 0, 0], [N, 1, BASE.width]);
    const second = x.slice([0, 1, 0], [N, 1, BASE.width]);
    model.forward(weights, first, { encoderKv: enc, sample: true }).dispose();
    model.forward(weights, second, { sample: true }).dispose();
    model.dispose();
    tf.dispose([x, enc, first, second]);
    weights.dispose();
  });
});
