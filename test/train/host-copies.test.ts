import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installTrainingGradients } from '../../src/train/gradients';
import { useBackend } from '../helpers';

/**
 * Reverse as a host copy (`installTrainingGradients` replaces wasm's kernel): every element
 * where index arithmetic puts it, for one axis, several, all, and none; and Transpose's copies of
 * whole rows (the last axis kept, 32 floats or more a row), as attention's head split makes them.
 */

beforeAll(async () => {
  await useBackend();
  installTrainingGradients();
});

describe('host Reverse', () => {
  it.each<[number[], number[]]>([
    [[3, 32, 32], [0]],
    [[2, 3, 4, 5], [1, 3]],
    [[2, 3, 4], [0, 1, 2]],
    [[7], [0]],
    [[4, 6], []],
  ])('shape %j, axes %j', (shape, axes) => {
    const size = shape.reduce((p, d) => p * d, 1);
    const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => i * 0.25 - 1), shape);
    const y = tf.reverse(x, axes);
    expect(y.shape).toEqual(shape);
    const src = x.dataSync();
    const got = y.dataSync();
    const strides = shape.map((_d, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
    for (let w = 0; w < size; w++) {
      let r = 0;
      for (let ax = 0; ax < shape.length; ax++) {
        const at = Math.floor(w / strides[ax]) % shape[ax];
        r += (axes.includes(ax) ? shape[ax] - 1 - at : at) * strides[ax];
      }
      if (got[w] !== src[r]) throw new Error(`element ${w}: ${got[w]} != ${src[r]}`);
    }
    tf.dispose([x, y]);
  });

  it('int32 tensors keep the backend kernel and reverse the same', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    const y = tf.reverse(x, 1);
    expect(Array.from(y.dataSync())).toEqual([3, 2, 1, 6, 5, 4]);
    tf.dispose([x, y]);
  });
});

describe('host Transpose by rows', () => {
  it.each<[number[], number[]]>([
    [[1, 1024, 2, 32], [0, 2, 1, 3]],
    [[3, 5, 40], [1, 0, 2]],
    [[64, 256], [0, 1]],
  ])('shape %j, perm %j: every element where index arithmetic puts it', (shape, perm) => {
    const size = shape.reduce((p, d) => p * d, 1);
    const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => i * 0.5 - 3), shape);
    const y = tf.transpose(x, perm);
    const outShape = perm.map((p) => shape[p]);
    expect(y.shape).toEqual(outShape);
    const src = x.dataSync();
    const got = y.dataSync();
    const inStrides = shape.map((_d, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
    const outStrides = outShape.map((_d, i) => outShape.slice(i + 1).reduce((p, d) => p * d, 1));
    for (let w = 0; w < size; w++) {
      let r = 0;
      for (let ax = 0; ax < outShape.length; ax++) r += (Math.floor(w / outStrides[ax]) % outShape[ax]) * inStrides[perm[ax]];
      if (got[w] !== src[r]) throw new Error(`element ${w}: ${got[w]} != ${src[r]}`);
    }
    tf.dispose([x, y]);
  });
});
