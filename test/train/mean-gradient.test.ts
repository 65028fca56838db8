import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installTrainingGradients } from '../../src/train/gradients';
import { tensorLeak, useBackend } from '../helpers';

/**
 * Mean's gradient as `installTrainingGradients` registers it (ones from the backend's Fill
 * kernel): the upstream gradient divided by the count of averaged elements, broadcast over them,
 * bit for bit what tfjs's own formula gives.
 */

beforeAll(async () => {
  await useBackend();
  installTrainingGradients();
});

describe('Mean gradient', () => {
  it.each<[number[], number | number[], boolean]>([
    [[4, 6, 5], -1, true],
    [[4, 6, 5], [0, 2], false],
    [[3, 7], 0, false],
    [[2, 3, 4], [0, 1, 2], false],
  ])('shape %j, axis %j, keepDims %s: dy / n on every averaged element', async (shape, axis, keepDims) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
    const leak = await tensorLeak(() => tf.tidy(() => {
      const outShape = tf.mean(x, axis, keepDims).shape;
      const w = tf.randomNormal(outShape, 0, 1, 'float32', 8);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, axis, keepDims), w)))(x);
      const axes = tf.util.parseAxisParam(axis, shape);
      const n = axes.reduce((p, a) => p * shape[a], 1);
      const expanded = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const want = tf.div(tf.mul(tf.reshape(w, expanded), tf.ones(shape)), n);
      expect(dx.shape).toEqual(shape);
      expect(Array.from(dx.dataSync())).toEqual(Array.from(want.dataSync()));
    }));
    expect(leak).toBe(0);
    x.dispose();
  });
});
