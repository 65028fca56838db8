import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { columnSums, gradKernels } from '../../src/train/fast/grad-kernels';
import { kernelFilterGradients, tapFilterGradients } from '../../src/vqvae/ops';
import { tensorLeak, useBackend } from '../helpers';

/**
 * The training steps' WebAssembly gradient kernels (src/train/fast/grad-kernels.wat) against the
 * tfjs formulations they replace.
 */

beforeAll(useBackend);

/** Largest |a − b| over the largest |b|. */
function relative(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(b)).dataSync()[0]);
}

describe('grad kernels', () => {
  it('load on this engine', () => {
    expect(gradKernels()).not.toBeNull();
  });

  it.each([
    // batch, T_in, C_in, C_out, taps, dilation, padding
    [1, 300, 32, 32, 3, 1, 1],
    [2, 257, 16, 16, 3, 9, 9],
    [2, 200, 1, 32, 3, 3, 0],
    [1, 131, 6, 5, 4, 1, 0],
    [3, 70, 64, 8, 1, 1, 0],
    [1, 100, 12, 40, 3, 27, 27],
  ])('conv filter and bias gradients equal the tap products (B %i, T %i, C_in %i, C_out %i, K %i, d %i, p %i)', async (batch, tIn, cIn, cOut, taps, dilation, padding) => {
    const tOut = tIn + 2 * padding - dilation * (taps - 1);
    const x = tf.randomNormal([batch, tIn, cIn], 0, 1, 'float32', 1) as tf.Tensor3D;
    const g = tf.randomNormal([batch, tOut, cOut], 0, 1, 'float32', 2) as tf.Tensor3D;
    const leak = await tensorLeak(() => {
      const fast = kernelFilterGradients(x, g, taps, dilation, padding);
      const slow = tapFilterGradients(x, g, taps, dilation, padding);
      expect(fast[0].shape).toEqual([taps, cIn, cOut]);
      expect(fast[1].shape).toEqual([cOut]);
      expect(relative(fast[0], slow[0])).toBeLessThan(1e-5);
      expect(relative(fast[1], slow[1])).toBeLessThan(1e-5);
      tf.dispose([...fast, ...slow]);
    });
    expect(leak).toBe(0);
    tf.dispose([x, g]);
  });

  it('column sums equal tf.sum over rows', () => {
    for (const [rows, cols] of [[1024, 256], [7, 3], [1, 1]]) {
      const v = tf.randomNormal([rows, cols], 0, 1, 'float32', 5);
      const want = tf.sum(v, 0);
      const got = tf.tensor1d(columnSums(gradKernels()!, v.dataSync() as Float32Array, rows, cols));
      expect(relative(got, want)).toBeLessThan(1e-5);
      tf.dispose([v, want, got]);
    }
  });
});
