import * as tf from '@tensorflow/tfjs';

/**
 * What tfjs lacks to differentiate the priors, installed once before the first gradient tape:
 *
 * - The wasm backend has no UnsortedSegmentSum, the gradient of gather (every embedding lookup,
 *   the cross entropy's pick of the target logit, summary attention's key gather), so nothing
 *   with an embedding could be trained on wasm.
 * - BatchMatMul's gradient does not undo broadcasting: `[N, T, in] @ [in, out]` (the
 *   transformer's Conv1D, kept 3-D because a token step pays for every extra op) runs as
 *   a batch of N against one matrix, and the weight's gradient comes back `[N, in, out]`.
 *   Its products also use transposed operands, which wasm multiplies 10-30x slower than plain
 *   ones (measured: [1024, 2048]ᵀ·[1024, 256] took 1.8 s); here each transpose is made first.
 * - Add's and Multiply's gradients sum broadcast operands with Sum, slow on wasm over leading
 *   axes (`reduceTo`).
 */
export function installTrainingGradients(): void {
  if (installed) return;
  installed = true;
  registerSegmentSum('wasm');
  const matMul = tf.getGradient('BatchMatMul')!;
  tf.registerGradient({
    ...matMul,
    gradFunc: (dyIn, saved, attrs) => {
      const dy = dyIn as tf.Tensor;
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // C = op(A)·op(B); each gradient is a plain product of explicit transposes.
      const [da, db] = !transposeA && !transposeB
        ? [() => tf.matMul(dy, swap(b)), () => tf.matMul(swap(a), dy)]
        : !transposeA && transposeB
          ? [() => tf.matMul(dy, b), () => tf.matMul(swap(dy), a)]
          : transposeA && !transposeB
            ? [() => tf.matMul(b, swap(dy)), () => tf.matMul(a, dy)]
            : [() => tf.matMul(swap(b), swap(dy)), () => tf.matMul(swap(dy), swap(a))];
      return { a: () => unbroadcast(da(), a.shape), b: () => unbroadcast(db(), b.shape) };
    },
  });
  for (const kernelName of ['Add', 'Multiply']) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (dyIn, saved) => {
        const dy = dyIn as tf.Tensor;
        const [a, b] = saved;
        if (kernelName === 'Add') return { a: () => reduceTo(dy, a.shape), b: () => reduceTo(dy, b.shape) };
        return { a: () => reduceTo(tf.mul(dy, tf.cast(b, 'float32')), a.shape), b: () => reduceTo(tf.mul(dy, tf.cast(a, 'float32')), b.shape) };
      },
    });
  }
}

/**
 * The gradient of a broadcast operand: `grad` summed down to `shape`. A bias or a LayerNorm gain
 * broadcast over [N, T] sums over the leading axes, which wasm's Sum does by transposing first
 * (3.7 ms for [1, 1024, 256], 10% of a small prior's backward pass); a product with a row of ones
 * does it in a tenth of that.
 */
function reduceTo(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.shape.length - shape.length;
  const axes = grad.shape.map((_d, i) => i).filter((i) => i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1));
  const leading = axes.every((axis, i) => axis === i);
  if (!leading) return tf.reshape(tf.sum(grad, axes), shape);
  const rows = grad.shape.slice(0, axes.length).reduce((p, d) => p * d, 1);
  const flat = tf.reshape(grad, [rows, grad.size / rows]);
  return tf.reshape(tf.matMul(tf.ones([1, rows]), flat), shape);
}

/** `x` with its last two axes swapped, as a tensor of its own. */
function swap(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_d, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(x, perm);
}

let installed = false;

/** A batch matmul operand's gradient summed over the batch axes it was broadcast along. */
function unbroadcast(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.shape.length - shape.length;
  const axes = grad.shape.map((_d, i) => i).filter((i) => i < lead || (i < grad.shape.length - 2 && shape[i - lead] === 1 && grad.shape[i] !== 1));
  return tf.reshape(tf.sum(grad, axes), shape);
}

/**
 * UnsortedSegmentSum on the host: out[ids[i]] += x[i], accumulated in float64 in input order.
 * Out-of-range ids are dropped, as TensorFlow drops them.
 */
function registerSegmentSum(backendName: string): void {
  if (tf.getKernel('UnsortedSegmentSum', backendName) !== undefined) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const host = backend as unknown as {
        readSync(dataId: object): ArrayLike<number>;
        makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
        typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
      };
      const x = inputs.x as tf.TensorInfo;
      const ids = host.readSync((inputs.segmentIds as tf.TensorInfo).dataId);
      const segments = (attrs as unknown as { numSegments: number }).numSegments;
      const values = host.readSync(x.dataId);
      const row = x.shape.slice(1).reduce((p, d) => p * d, 1);
      const acc = new Float64Array(segments * row);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (id < 0 || id >= segments) continue;
        for (let k = 0, o = id * row, s = i * row; k < row; k++) acc[o + k] += values[s + k];
      }
      const out = host.makeOutput([segments, ...x.shape.slice(1)], x.dtype);
      host.typedArrayFromHeap(out).set(acc);
      return out;
    },
  });
}
