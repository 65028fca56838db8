import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchedMatMul } from '../../src/train/fast/heap-gemm';
import { tensorLeak, useBackend } from '../helpers';
import { exactProducts } from './helpers';

/**
 * `batchedMatMul`, attention's probabilities·values outside the training workers (where wasm's
 * BatchMatMul is tfjs's own): the heap kernel's products within float32 rounding of the exact
 * ones, through its own kernel where it applies and BatchMatMul where not, and BatchMatMul's
 * gradients. This file never installs the training kernels, so tf.matMul is tfjs's here.
 */
beforeAll(useBackend);

describe('batchedMatMul', () => {
  it.each<[number[], number[], boolean, boolean, 'the heap kernel' | 'tfjs']>([
    [[2, 3, 33, 17], [2, 3, 17, 12], false, false, 'the heap kernel'],
    [[2, 4, 3, 8, 8], [2, 4, 3, 8, 16], false, false, 'the heap kernel'],
    [[1, 2, 9, 32], [1, 2, 20, 32], false, true, 'the heap kernel'],
    [[1, 2, 5, 7], [7, 8], false, false, 'the heap kernel'],
    // Columns not a multiple of 4: BatchMatMul's own kernel computes it.
    [[2, 3, 9, 5], [2, 3, 5, 6], false, false, 'tfjs'],
  ])('A %j, B %j, transposeA %s, transposeB %s: within float32 rounding of the exact products, by %s', async (sa, sb, ta, tb, by) => {
    const a = tf.randomNormal(sa, 0, 1, 'float32', sa.length * 5 + sa[0]);
    const b = tf.randomNormal(sb, 0, 1, 'float32', sb.length * 3 + sb[0]);
    const want = exactProducts(a, b, ta, tb);
    const profile = await tf.profile(() => {
      const got = batchedMatMul(a, b, ta, tb);
      expect(got.shape).toEqual(want.shape);
      const values = got.dataSync();
      const tfjs = tf.matMul(a, b, ta, tb);
      // The heap kernel sums in another order than tfjs (fused multiply-adds, chunks of the inner dimension).
      expect(Buffer.from(values.buffer).equals(Buffer.from(tfjs.dataSync().buffer))).toBe(by === 'tfjs');
      tfjs.dispose();
      for (let i = 0; i < values.length; i++) {
        if (!(Math.abs(values[i] - want.values[i]) <= want.bound[i])) throw new Error(`element ${i}: ${values[i]}, exactly ${want.values[i]} ± ${want.bound[i]}`);
      }
      got.dispose();
    });
    expect(profile.kernelNames).toContain('JukeboxHeapBatchMatMul');
    expect(profile.newTensors).toBe(0);
    tf.dispose([a, b]);
  });

  it('differentiates as tf.matMul does, leaving no tensor behind', async () => {
    const a = tf.randomNormal([2, 3, 16, 8], 0, 1, 'float32', 1);
    const b = tf.randomNormal([2, 3, 8, 12], 0, 1, 'float32', 2);
    const weight = tf.randomNormal([2, 3, 16, 12], 0, 1, 'float32', 3);
    const gradsOf = (product: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(product(x, y), weight)))([a, b]);
    const leak = await tensorLeak(() => {
      const got = gradsOf((x, y) => batchedMatMul(x, y));
      const want = gradsOf((x, y) => tf.matMul(x, y));
      got.forEach((g, i) => {
        expect(g.shape).toEqual(want[i].shape);
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(g, want[i]))).dataSync()[0]);
        expect(diff).toBeLessThan(1e-5);
      });
      tf.dispose([...got, ...want]);
    });
    expect(leak).toBe(0);
    tf.dispose([a, b, weight]);
  });
});
