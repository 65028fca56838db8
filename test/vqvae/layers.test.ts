import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Conv1d, ConvTranspose1d, Resnet1D } from '../../src/vqvae/layers';
import { ParameterRegistry, WeightMap } from '../../src/vqvae/weights';
import { tensorLeak, useBackend } from '../helpers';

beforeAll(useBackend);

/** PyTorch's Conv1d by definition, on [C, T] arrays: y[o, t] = b[o] + Σ_i,k w[o,i,k] x[i, t·s − p + k·d]. */
function naiveConv1d(x: number[][], w: number[][][], b: number[], stride: number, pad: number, dil: number): number[][] {
  const tIn = x[0].length;
  const k = w[0][0].length;
  const tOut = Math.floor((tIn + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
  return w.map((wo, o) =>
    Array.from({ length: tOut }, (_, t) => {
      let acc = b[o];
      wo.forEach((wi, i) => wi.forEach((wk, kk) => {
        const pos = t * stride - pad + kk * dil;
        if (pos >= 0 && pos < tIn) acc += wk * x[i][pos];
      }));
      return acc;
    }),
  );
}

/** PyTorch's ConvTranspose1d by definition: y[o, i·s − p + k] += x[c, i] · w[c, o, k]. */
function naiveConvTranspose1d(x: number[][], w: number[][][], b: number[], stride: number, pad: number): number[][] {
  const tIn = x[0].length;
  const k = w[0][0].length;
  const tOut = (tIn - 1) * stride - 2 * pad + k;
  const y = b.map((bo) => new Array<number>(tOut).fill(bo));
  x.forEach((xc, c) => xc.forEach((v, i) => w[c].forEach((wo, o) => wo.forEach((wk, kk) => {
    const pos = i * stride - pad + kk;
    if (pos >= 0 && pos < tOut) y[o][pos] += v * wk;
  }))));
  return y;
}

function randomArray(shape: number[], seed: number): number[] {
  return Array.from(tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync());
}

/** [C, T] nested array ↔ [1, T, C] tensor. */
function toNWC(x: number[][]): tf.Tensor3D {
  return tf.tensor2d(x).transpose().expandDims(0) as tf.Tensor3D;
}
function fromNWC(y: tf.Tensor3D): number[][] {
  return (y.squeeze([0]).transpose().arraySync() as number[][]);
}
function maxAbsDiff(a: number[][], b: number[][]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i].length);
    row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j]))));
  });
  return m;
}

describe('Conv1d', () => {
  it('computes a hand-worked example', () => {
    const registry = new ParameterRegistry();
    const conv = new Conv1d(registry, 'c', 1, 1, 3, 1, 1);
    expect([...registry.spec]).toEqual([['c.weight', [1, 1, 3]], ['c.bias', [1]]]);
    const w = new WeightMap();
    w.set('c.weight', tf.tensor3d([[[1, 2, 3]]]));
    w.set('c.bias', tf.tensor1d([0.5]));
    // x = [1, 0, 2, -1], zero padded: y[t] = x[t-1] + 2x[t] + 3x[t+1] + 0.5
    const y = conv.apply(w, tf.tensor3d([1, 0, 2, -1], [1, 4, 1]));
    expect(Array.from(y.dataSync())).toEqual([2.5, 7.5, 1.5, 0.5]);
    expect(Array.from(conv.apply(w, tf.tensor3d([1, 0, 2, -1], [1, 4, 1]), 'relu').dataSync())).toEqual([2.5, 7.5, 1.5, 0.5]);
    w.dispose();
  });

  it.each([
    { nIn: 3, nOut: 5, k: 3, s: 1, p: 1, d: 1 },
    { nIn: 4, nOut: 2, k: 3, s: 1, p: 9, d: 9 },
    { nIn: 1, nOut: 6, k: 4, s: 2, p: 1, d: 1 },
    { nIn: 5, nOut: 5, k: 6, s: 3, p: 1, d: 1 },
    { nIn: 2, nOut: 3, k: 1, s: 1, p: 0, d: 1 },
    { nIn: 2, nOut: 2, k: 2, s: 1, p: 3, d: 1 },
  ])('matches the PyTorch definition for %o', ({ nIn, nOut, k, s, p, d }) => {
    const registry = new ParameterRegistry();
    const conv = new Conv1d(registry, 'c', nIn, nOut, k, s, p, d);
    const wArr = randomArray([nOut, nIn, k], 1);
    const bArr = randomArray([nOut], 2);
    const xArr = randomArray([nIn, 37], 3);
    const w = new WeightMap();
    w.set('c.weight', tf.tensor3d(wArr, [nOut, nIn, k]));
    w.set('c.bias', tf.tensor1d(bArr));
    const x = tf.tensor2d(xArr, [nIn, 37]).arraySync() as number[][];
    const expected = naiveConv1d(x, tf.tensor3d(wArr, [nOut, nIn, k]).arraySync() as number[][][], bArr, s, p, d);
    expect(maxAbsDiff(fromNWC(conv.apply(w, toNWC(x))), expected)).toBeLessThan(1e-5);
    w.dispose();
  });
});

describe('ConvTranspose1d (phase decomposition)', () => {
  it('upsamples a hand-worked example', () => {
    const registry = new ParameterRegistry();
    const conv = new ConvTranspose1d(registry, 't', 1, 1, 4, 2, 1);
    const w = new WeightMap();
    w.set('t.weight', tf.tensor3d([[[1, 10, 100, 1000]]]));
    w.set('t.bias', tf.tensor1d([0]));
    // Input [1, 2]: y[2i-1+k] += x[i] w[k] → y = [10+0, 100+2, 1000+20, 200] trimmed to length 4.
    const y = conv.apply(w, tf.tensor3d([1, 2], [1, 2, 1]));
    expect(Array.from(y.dataSync())).toEqual([10, 102, 1020, 200]);
    w.dispose();
  });

  it.each([
    { nIn: 3, nOut: 2, s: 2, k: 4, p: 1 },
    { nIn: 2, nOut: 4, s: 3, k: 6, p: 1 },
    { nIn: 4, nOut: 1, s: 4, k: 8, p: 2 },
    { nIn: 2, nOut: 2, s: 2, k: 3, p: 0 },
  ])('matches the PyTorch definition for %o', ({ nIn, nOut, s, k, p }) => {
    const registry = new ParameterRegistry();
    const conv = new ConvTranspose1d(registry, 't', nIn, nOut, k, s, p);
    const wArr = tf.tensor3d(randomArray([nIn, nOut, k], 4), [nIn, nOut, k]);
    const bArr = randomArray([nOut], 5);
    const x = tf.tensor2d(randomArray([nIn, 23], 6), [nIn, 23]).arraySync() as number[][];
    const w = new WeightMap();
    w.set('t.weight', wArr);
    w.set('t.bias', tf.tensor1d(bArr));
    const expected = naiveConvTranspose1d(x, wArr.arraySync() as number[][][], bArr, s, p);
    const got = fromNWC(conv.apply(w, toNWC(x)));
    expect(got[0].length).toBe((23 - 1) * s - 2 * p + k);
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-5);
    w.dispose();
  });
});

describe('Resnet1D', () => {
  it('declares reference keys with growing, reversible dilations', () => {
    const registry = new ParameterRegistry();
    const fwd = new Resnet1D(registry, 'r', 4, { depth: 4, mConv: 1, dilationGrowthRate: 3, dilationCycle: null, resScale: false });
    expect(fwd.blocks.map((b) => b.dilation)).toEqual([1, 3, 9, 27]);
    expect([...registry.spec.keys()].slice(0, 4)).toEqual(['r.model.0.model.1.weight', 'r.model.0.model.1.bias', 'r.model.0.model.3.weight', 'r.model.0.model.3.bias']);
    const rev = new Resnet1D(new ParameterRegistry(), 'r', 4, { depth: 4, mConv: 1, dilationGrowthRate: 3, dilationCycle: 2, resScale: true, reverseDilation: true });
    expect(rev.blocks.map((b) => b.dilation)).toEqual([3, 1, 3, 1]);
    expect(rev.blocks[0].resScale).toBeCloseTo(0.5);
  });

  it('computes x + res_scale · conv1(relu(conv3(relu(x)))) and leaks no tensors', async () => {
    const registry = new ParameterRegistry();
    const net = new Resnet1D(registry, 'r', 2, { depth: 1, mConv: 1.5, dilationGrowthRate: 3, dilationCycle: null, resScale: true });
    const w = new WeightMap();
    // nState = trunc(1.5 · 2) = 3.
    expect(registry.spec.get('r.model.0.model.1.weight')).toEqual([3, 2, 3]);
    const w3 = tf.tensor3d(randomArray([3, 2, 3], 7), [3, 2, 3]);
    const b3 = randomArray([3], 8);
    const w1 = tf.tensor3d(randomArray([2, 3, 1], 9), [2, 3, 1]);
    const b1 = randomArray([2], 10);
    w.set('r.model.0.model.1.weight', w3);
    w.set('r.model.0.model.1.bias', tf.tensor1d(b3));
    w.set('r.model.0.model.3.weight', w1);
    w.set('r.model.0.model.3.bias', tf.tensor1d(b1));
    const x = tf.tensor2d(randomArray([2, 11], 11), [2, 11]).arraySync() as number[][];
    const relu = (a: number[][]) => a.map((r) => r.map((v) => Math.max(0, v)));
    const h = naiveConv1d(relu(naiveConv1d(relu(x), w3.arraySync() as number[][][], b3, 1, 1, 1)), w1.arraySync() as number[][][], b1, 1, 0, 1);
    const expected = x.map((row, c) => row.map((v, t) => v + h[c][t])); // res_scale 1/sqrt(1) = 1
    const input = toNWC(x);
    expect(maxAbsDiff(fromNWC(net.apply(w, input)), expected)).toBeLessThan(1e-5);
    expect(await tensorLeak(() => net.apply(w, input).dispose())).toBe(0);
    w.dispose();
  });
});
