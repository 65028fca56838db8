import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { heapGemm } from '../../src/train/fast/heap-gemm';
import { installTrainingGradients } from '../../src/train/gradients';
import { tensorLeak, useBackend } from '../helpers';

/**
 * The heap matrix-product kernel (src/train/fast/heap-gemm.wat), which replaces wasm's
 * BatchMatMul once `installTrainingGradients` has run, against exact (float64) products: every
 * element within the rounding bound of a float32 sum of k products, k·2⁻²⁴·Σ|a·b|, for every
 * transposition, edge blocks (rows not a multiple of 4, columns not of 8), inner and column
 * lengths past the chunk sizes, B packed (128 rows of A or more) or read in place, and batches
 * shared or broadcast; and the cases it leaves to the backend's kernel.
 */

beforeAll(async () => {
  await useBackend();
  installTrainingGradients();
});

/**
 * op(A)·op(B) for [..., r, c] operands whose batch shapes broadcast, in float64, with the
 * rounding bound of each element's float32 sum.
 */
function reference(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): { values: Float64Array; bound: Float64Array; shape: number[] } {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const count = batch.reduce((p, d) => p * d, 1);
  // The matrix of an operand that output batch item p reads: its index along each batch axis, 0 where it broadcasts.
  const item = (shape: number[], p: number) => {
    const own = shape.slice(0, -2);
    let index = 0;
    for (let ax = batch.length - 1, rest = p, stride = 1; ax >= 0; ax--) {
      const at = rest % batch[ax];
      rest = Math.floor(rest / batch[ax]);
      const d = own[ax - (batch.length - own.length)] ?? 1;
      index += (d === 1 ? 0 : at) * stride;
      stride *= d;
    }
    return index;
  };
  const av = a.dataSync();
  const bv = b.dataSync();
  const out = new Float64Array(count * m * n);
  const bound = new Float64Array(count * m * n);
  for (let p = 0; p < count; p++) {
    const ao = item(a.shape, p) * m * k;
    const bo = item(b.shape, p) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let c = 0;
        let magnitude = 0;
        for (let kk = 0; kk < k; kk++) {
          const xy = av[ao + (ta ? kk * m + i : i * k + kk)] * bv[bo + (tb ? j * k + kk : kk * n + j)];
          c += xy;
          magnitude += Math.abs(xy);
        }
        out[(p * m + i) * n + j] = c;
        bound[(p * m + i) * n + j] = k * 2 ** -24 * magnitude;
      }
    }
  }
  return { values: out, bound, shape: [...batch, m, n] };
}

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
    const want = reference(a, b, ta, tb);
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
