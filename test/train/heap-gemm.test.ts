import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { heapGemm } from '../../src/train/fast/heap-gemm';
import { DEFAULT_OPTIMIZER, FusedAdam } from '../../src/train/optimizer';
import { installTrainingGradients } from '../../src/train/gradients';
import { tensorLeak, useBackend } from '../helpers';
import { exactProducts } from './helpers';

/**
 * The heap matrix-product kernel (src/train/fast/heap-gemm.wat), which replaces wasm's
 * BatchMatMul once `installTrainingGradients` has run, against exact (float64) products: every
 * element within the rounding bound of a float32 sum of k products, k·2⁻²⁴·Σ|a·b|, for every
 * transposition, edge blocks (rows not a multiple of 4, columns not of 8), inner and column
 * lengths past the chunk sizes, B packed (128 rows of A or more) or read in place, and batches
 * shared or broadcast; and the cases it leaves to the backend's kernel. The same for the 1-D
 * convolutions it takes over (Conv2D and FusedConv2D of height 1, stride 1): output chunks, taps
 * reaching into the padding, ReLU, with and without bias. And Adam's update (`FusedAdam` on the
 * heap kernel) against the tfjs operations it stands for, bit for bit.
 */

beforeAll(async () => {
  await useBackend();
  installTrainingGradients();
});

describe('heap matrix products', () => {
  it('load on this engine', () => {
    expect(heapGemm()).not.toBeNull();
  });

  it.each<[number[], number[], boolean, boolean]>([
    [[37, 19], [19, 24], false, false],
    [[19, 37], [19, 24], true, false],
    [[37, 19], [24, 19], false, true],
    [[19, 37], [24, 19], true, true],
    [[6, 300], [300, 268], false, false],
    [[131, 300], [300, 268], false, false],
    [[300, 133], [20, 300], true, true],
    [[300, 6], [268, 300], true, true],
    [[2, 3, 33, 17], [2, 3, 17, 12], false, false],
    [[1, 2, 9, 32], [1, 2, 20, 32], false, true],
    [[1, 2, 5, 7], [7, 8], false, false],
    [[5, 7], [3, 7, 8], false, false],
    [[9, 5], [5, 6], false, false],
  ])('A %j, B %j, transposeA %s, transposeB %s: within float32 rounding of the exact products', async (sa, sb, ta, tb) => {
    const a = tf.randomNormal(sa, 0, 1, 'float32', sa.length * 7 + sa[0]);
    const b = tf.randomNormal(sb, 0, 1, 'float32', sb.length * 11 + sb[0]);
    const want = exactProducts(a, b, ta, tb);
    const leak = await tensorLeak(() => {
      const got = tf.matMul(a, b, ta, tb);
      expect(got.shape).toEqual(want.shape);
      const values = got.dataSync();
      for (let i = 0; i < values.length; i++) {
        if (!(Math.abs(values[i] - want.values[i]) <= want.bound[i])) throw new Error(`element ${i}: ${values[i]}, exactly ${want.values[i]} ± ${want.bound[i]}`);
      }
      got.dispose();
    });
    expect(leak).toBe(0);
    tf.dispose([a, b]);
  });

  it('an empty inner dimension gives zeros', () => {
    const c = tf.matMul(tf.zeros([5, 0]), tf.zeros([0, 8]));
    expect(Array.from(c.dataSync())).toEqual(new Array(40).fill(0));
    c.dispose();
  });
});

/**
 * A channels-last 1-D convolution of x [B, 1, T, C_in] with w [1, K, C_in, C_out] (stride 1,
 * dilation d, zero padding left and right), plus bias, through ReLU when asked, in float64 with
 * each output's rounding bound (the bias and K·C_in products summed in float32).
 */
function convReference(x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor | null, d: number, left: number, right: number, relu: boolean): { values: Float64Array; bound: Float64Array } {
  const [batch, , t, cIn] = x.shape;
  const [, taps, , cOut] = w.shape;
  const tOut = t + left + right - d * (taps - 1);
  const xv = x.dataSync();
  const wv = w.dataSync();
  const bv = bias?.dataSync();
  const values = new Float64Array(batch * tOut * cOut);
  const bound = new Float64Array(batch * tOut * cOut);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < tOut; o++) {
      for (let j = 0; j < cOut; j++) {
        let sum = bv ? bv[j] : 0;
        let magnitude = Math.abs(sum);
        for (let tap = 0; tap < taps; tap++) {
          const at = o + tap * d - left;
          if (at < 0 || at >= t) continue;
          for (let i = 0; i < cIn; i++) {
            const xy = xv[(b * t + at) * cIn + i] * wv[(tap * cIn + i) * cOut + j];
            sum += xy;
            magnitude += Math.abs(xy);
          }
        }
        const e = (b * tOut + o) * cOut + j;
        values[e] = relu ? Math.max(sum, 0) : sum;
        bound[e] = (taps * cIn + 1) * 2 ** -24 * magnitude;
      }
    }
  }
  return { values, bound };
}

describe('heap 1-D convolutions', () => {
  it.each<[number, number, number, number, number, number, number, number, boolean, boolean]>([
    // batch, T, C_in, C_out, taps, dilation, pad left, pad right, bias, relu
    [2, 1300, 16, 24, 3, 3, 3, 3, true, true],
    [1, 700, 5, 12, 4, 1, 2, 1, true, false],
    [3, 90, 8, 8, 3, 9, 9, 9, false, false],
    [1, 200, 1, 32, 3, 1, 1, 1, true, true],
    [2, 50, 7, 6, 3, 1, 1, 1, true, false],
  ])('B %i, T %i, C_in %i, C_out %i, K %i, d %i, padding %i/%i, bias %s, ReLU %s: within float32 rounding of the exact sums',
    async (batch, t, cIn, cOut, taps, d, left, right, withBias, relu) => {
      const x = tf.randomNormal([batch, 1, t, cIn], 0, 1, 'float32', 21) as tf.Tensor4D;
      const w = tf.randomNormal([1, taps, cIn, cOut], 0, 0.3, 'float32', 22) as tf.Tensor4D;
      const bias = withBias ? tf.randomNormal([cOut], 0, 1, 'float32', 23) as tf.Tensor1D : null;
      const want = convReference(x, w, bias, d, left, right, relu);
      const pad: tf.backend_util.ExplicitPadding = [[0, 0], [0, 0], [left, right], [0, 0]];
      const leak = await tensorLeak(() => {
        const got = bias === null && !relu
          ? tf.conv2d(x, w, 1, pad, 'NHWC', [1, d])
          : tf.fused.conv2d({ x, filter: w, strides: 1, pad, dilations: [1, d], bias: bias ?? undefined, activation: relu ? 'relu' : 'linear' });
        const values = got.dataSync();
        expect(values.length).toBe(want.values.length);
        for (let i = 0; i < values.length; i++) {
          if (!(Math.abs(values[i] - want.values[i]) <= want.bound[i])) throw new Error(`element ${i}: ${values[i]}, exactly ${want.values[i]} ± ${want.bound[i]}`);
        }
        got.dispose();
      });
      expect(leak).toBe(0);
      tf.dispose([x, w, ...(bias ? [bias] : [])]);
    });
});

describe('heap Adam', () => {
  it.each<[number, number]>([[1, 0], [2.5, 0], [1, 0.01]])('clipping scale %f, weight decay %f: FusedAdam gives the tfjs operations\' values bit for bit, over three steps', async (scale, weightDecay) => {
    const config = { ...DEFAULT_OPTIMIZER, weight_decay: weightDecay };
    const shapes = [[7, 5], [64], [3]];
    const params = new Map(shapes.map((s, i) => [`p${i}`, tf.randomNormal(s, 0, 1, 'float32', 30 + i)]));
    const adam = new FusedAdam(config);
    // The update as FusedAdam's tfjs path writes it, with its own moments.
    const m = new Map<string, tf.Tensor>();
    const v = new Map<string, tf.Tensor>();
    let want = new Map([...params].map(([name, p]) => [name, p.clone()]));
    let got = new Map([...params].map(([name, p]) => [name, p.clone()]));
    for (let t = 1; t <= 3; t++) {
      const grads = new Map(shapes.map((s, i) => [`p${i}`, tf.randomNormal(s, 0, 1, 'float32', 40 + 10 * t + i)]));
      const lr = 1e-3 * t;
      const stepSize = (lr * Math.sqrt(1 - config.beta2 ** t)) / (1 - config.beta1 ** t);
      const nextWant = new Map<string, tf.Tensor>();
      for (const [name, p] of want) {
        tf.tidy(() => {
          const g = grads.get(name)!;
          const gs = scale === 1 ? g : tf.div(g, scale);
          const m1 = tf.add(tf.mul(m.get(name) ?? tf.zerosLike(p), config.beta1), tf.mul(gs, 1 - config.beta1));
          const v1 = tf.add(tf.mul(v.get(name) ?? tf.zerosLike(p), config.beta2), tf.mul(tf.square(gs), 1 - config.beta2));
          let update = tf.div(m1, tf.add(tf.sqrt(v1), config.eps));
          if (weightDecay) update = tf.add(update, tf.mul(p, weightDecay));
          m.get(name)?.dispose();
          v.get(name)?.dispose();
          m.set(name, tf.keep(m1));
          v.set(name, tf.keep(v1));
          nextWant.set(name, tf.keep(tf.sub(p, tf.mul(update, stepSize))));
        });
      }
      const nextGot = adam.update(got, grads, lr, scale);
      tf.dispose([...want.values(), ...got.values(), ...grads.values()]);
      want = nextWant;
      got = nextGot;
      for (const [name, p] of want) {
        expect(Array.from(got.get(name)!.dataSync()), name).toEqual(Array.from(p.dataSync()));
        expect(Array.from(adam.m.get(name)!.dataSync())).toEqual(Array.from(m.get(name)!.dataSync()));
        expect(Array.from(adam.v.get(name)!.dataSync())).toEqual(Array.from(v.get(name)!.dataSync()));
      }
    }
    adam.dispose();
    tf.dispose([...params.values(), ...want.values(), ...got.values(), ...m.values(), ...v.values()]);
  });
});
