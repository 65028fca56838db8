import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installTrainingGradients } from '../../src/train/gradients';
import { tensorLeak, useBackend } from '../helpers';

/**
 * What `installTrainingGradients` replaces besides gradients: Transpose and GatherV2 as host
 * copies (exact: checked element by element against index arithmetic), and the gradients of
 * batched matrix products on the host kernel (checked against the products they stand for,
 * written with tfjs's forward matMul).
 */

beforeAll(async () => {
  await useBackend();
  installTrainingGradients();
});

function iota(shape: number[]): tf.Tensor {
  const size = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(Float32Array.from({ length: size }, (_, i) => i * 0.5 - 3), shape);
}

/** Row-major strides of `shape`. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) (s[i] = acc), (acc *= shape[i]);
  return s;
}

describe('host Transpose', () => {
  it.each<[number[], number[]]>([
    [[7, 5], [1, 0]],
    [[1, 1024, 256], [0, 2, 1]],
    [[2, 3, 4, 5], [0, 2, 1, 3]],
    [[2, 3, 4, 5], [3, 1, 0, 2]],
    [[1, 2, 6, 4, 3], [0, 1, 2, 4, 3]],
    [[4], [0]],
  ])('shape %j, perm %j: every element where index arithmetic puts it', (shape, perm) => {
    const x = iota(shape);
    const y = tf.transpose(x, perm);
    expect(y.shape).toEqual(perm.map((p) => shape[p]));
    const src = x.dataSync();
    const got = y.dataSync();
    const inS = strides(shape);
    const outShape = perm.map((p) => shape[p]);
    const outS = strides(outShape);
    for (let w = 0; w < got.length; w++) {
      let r = 0;
      for (let ax = 0; ax < outShape.length; ax++) r += (Math.floor(w / outS[ax]) % outShape[ax]) * inS[perm[ax]];
      if (got[w] !== src[r]) throw new Error(`element ${w}: ${got[w]} != ${src[r]}`);
    }
    tf.dispose([x, y]);
  });

  it('int32 tensors keep the backend kernel and transpose the same', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    const y = tf.transpose(x);
    expect(Array.from(y.dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
    tf.dispose([x, y]);
  });
});

describe('host GatherV2', () => {
  it('gathers rows, inner slices and single values along any axis', () => {
    const x = iota([3, 4, 5]);
    const src = x.dataSync();
    for (const axis of [0, 1, 2]) {
      const dim = x.shape[axis];
      const ids = tf.tensor2d(Int32Array.from({ length: 6 }, (_, i) => (i * 7 + 1) % dim), [2, 3], 'int32');
      const y = tf.gather(x, ids, axis);
      const idv = ids.dataSync();
      const outer = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
      const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
      const want: number[] = [];
      for (let o = 0; o < outer; o++) for (const id of idv) for (let j = 0; j < inner; j++) want.push(src[(o * dim + id) * inner + j]);
      expect(y.shape).toEqual([...x.shape.slice(0, axis), 2, 3, ...x.shape.slice(axis + 1)]);
      expect(Array.from(y.dataSync())).toEqual(want);
      tf.dispose([ids, y]);
    }
    x.dispose();
  });

  it('rejects an index out of range', () => {
    const x = iota([3, 2]);
    const ids = tf.tensor1d([0, 3], 'int32');
    expect(() => tf.gather(x, ids)).toThrow(/index value 3 is not in \[0, 2\]/);
    tf.dispose([x, ids]);
  });
});

describe('gradients of batched matrix products', () => {
  it.each<[boolean, boolean]>([[false, false], [false, true], [true, false], [true, true]])(
    'transposeA %s, transposeB %s: equal the products they stand for', async (ta, tb) => {
      const [m, k, n] = [5, 7, 6];
      const a = tf.randomNormal(ta ? [1, 3, k, m] : [1, 3, m, k], 0, 1, 'float32', 1);
      const b = tf.randomNormal(tb ? [1, 3, n, k] : [1, 3, k, n], 0, 1, 'float32', 2);
      const w = tf.randomNormal([1, 3, m, n], 0, 1, 'float32', 3);
      const leak = await tensorLeak(() => tf.tidy(() => {
        const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w)))([a, b]);
        // dL/d op(A) = W·op(B)ᵀ and dL/d op(B) = op(A)ᵀ·W, transposed back where op transposes.
        const opA = ta ? tf.transpose(a, [0, 1, 3, 2]) : a;
        const opB = tb ? tf.transpose(b, [0, 1, 3, 2]) : b;
        const dOpA = tf.matMul(w, opB, false, true);
        const dOpB = tf.matMul(opA, w, true, false);
        const wantA = ta ? tf.transpose(dOpA, [0, 1, 3, 2]) : dOpA;
        const wantB = tb ? tf.transpose(dOpB, [0, 1, 3, 2]) : dOpB;
        expect(da.shape).toEqual(a.shape);
        expect(db.shape).toEqual(b.shape);
        expect(tf.max(tf.abs(tf.sub(da, wantA))).dataSync()[0]).toBeLessThan(1e-5);
        expect(tf.max(tf.abs(tf.sub(db, wantB))).dataSync()[0]).toBeLessThan(1e-5);
      }));
      expect(leak).toBe(0);
      tf.dispose([a, b, w]);
    });
});

describe('gradients of a weight applied to every row', () => {
  it.each([false, true])('transposeB %s: the weight gradient sums over all rows and leading axes', async (tb) => {
    const [n, m, k, o] = [2, 5, 7, 6];
    const a = tf.randomNormal([n, m, k], 0, 1, 'float32', 4);
    const b = tf.randomNormal(tb ? [o, k] : [k, o], 0, 1, 'float32', 5);
    const w = tf.randomNormal([n, m, o], 0, 1, 'float32', 6);
    const leak = await tensorLeak(() => tf.tidy(() => {
      const db = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, y, false, tb), w)))(b);
      // Σ_rows aᵀ·w, transposed where B is.
      const sum = tf.matMul(a.reshape([n * m, k]), w.reshape([n * m, o]), true, false);
      const want = tb ? tf.transpose(sum) : sum;
      expect(db.shape).toEqual(b.shape);
      expect(tf.max(tf.abs(tf.sub(db, want))).dataSync()[0]).toBeLessThan(1e-5);
    }));
    expect(leak).toBe(0);
    tf.dispose([a, b, w]);
  });
});
