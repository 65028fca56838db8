import * as tf from '@tensorflow/tfjs';
import { batchedProducts, columnSums, gradKernels, hostData } from './fast/grad-kernels';

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
 *   Batched products (attention's [heads, blocks] of small matrices) take wasm's unvectorised
 *   path (1.5 ms for 64 products of 32×32×32, 3 GFLOP/s): their gradients run on the SIMD kernel
 *   of src/train/fast instead (`hostProduct`), as do weights' gradients (`rowProduct`: 4 ms
 *   against 7.5 for a transposed copy and a product for [1024, 256]ᵀ·[1024, 256]).
 * - Add's and Multiply's gradients sum broadcast operands with Sum, slow on wasm over leading
 *   axes (`reduceTo`).
 * - wasm's Transpose and GatherV2 move one element at a time through index arithmetic (2.6 ms
 *   to transpose [1024, 256], 7 ms to gather 1024 rows of 256): both are replaced for the
 *   process by copies on the host (`registerHostCopies`), which give the same values bit for bit.
 */
export function installTrainingGradients(): void {
  if (installed) return;
  installed = true;
  registerSegmentSum('wasm');
  registerHostCopies('wasm');
  const matMul = tf.getGradient('BatchMatMul')!;
  tf.registerGradient({
    ...matMul,
    gradFunc: (dyIn, saved, attrs) => {
      const dy = dyIn as tf.Tensor;
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // C = op(A)·op(B); each gradient is a plain product of explicit transposes, or of the host
      // kernel's layouts when A and B are batches of matrices of the same batch shape.
      const lead = a.shape.slice(0, -2);
      const batched = lead.reduce((p, d) => p * d, 1) > 1 && b.shape.length === a.shape.length && lead.every((d, i) => d === b.shape[i]) && gradKernels() !== null;
      if (batched) {
        return !transposeA && !transposeB
          ? { a: () => hostProduct(dy, false, b, true), b: () => hostProduct(a, true, dy, false) }
          : !transposeA && transposeB
            ? { a: () => hostProduct(dy, false, b, false), b: () => hostProduct(dy, true, a, false) }
            : transposeA && !transposeB
              ? { a: () => hostProduct(b, false, dy, true), b: () => hostProduct(a, false, dy, false) }
              : { a: () => hostProduct(b, true, dy, true), b: () => hostProduct(dy, true, a, true) };
      }
      const [da, db] = !transposeA && !transposeB
        ? [() => tf.matMul(dy, swap(b)), () => tf.matMul(swap(a), dy)]
        : !transposeA && transposeB
          ? [() => tf.matMul(dy, b), () => tf.matMul(swap(dy), a)]
          : transposeA && !transposeB
            ? [() => tf.matMul(b, swap(dy)), () => tf.matMul(a, dy)]
            : [() => tf.matMul(swap(b), swap(dy)), () => tf.matMul(swap(dy), swap(a))];
      // A weight (a matrix applied to every row of A) takes its gradient as one Σ over all rows
      // of A and dy on the host kernel: no transposed copy of the activations, no batch sum.
      const weightGrad = b.shape.length === 2 && !transposeA && gradKernels() !== null
        ? () => rowProduct(transposeB ? dy : a, transposeB ? a : dy)
        : undefined;
      return { a: () => unbroadcast(da(), a.shape), b: weightGrad ?? (() => unbroadcast(db(), b.shape)) };
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
  const kernels = gradKernels();
  if (kernels !== null && grad.dtype === 'float32') return tf.tensor(columnSums(kernels, hostData(grad), rows, grad.size / rows), shape);
  const flat = tf.reshape(grad, [rows, grad.size / rows]);
  return tf.reshape(tf.matMul(tf.ones([1, rows]), flat), shape);
}

/** Σ_r x[r]ᵀ y[r] over the rows r of x [..., R, I] and y [..., R, J] (all leading axes too) → [I, J]. */
function rowProduct(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const i = x.shape[x.shape.length - 1];
  const j = y.shape[y.shape.length - 1];
  const rows = x.size / i;
  return tf.tensor2d(batchedProducts(gradKernels()!, hostData(x), hostData(y), 1, i, rows, j, true, false), [i, j]);
}

/**
 * op(x)·op(y) for batches of matrices of the same batch shape ([..., r, c]), by the host kernel
 * (`batchedProducts`).
 */
function hostProduct(x: tf.Tensor, transposeX: boolean, y: tf.Tensor, transposeY: boolean): tf.Tensor {
  const rank = x.shape.length;
  const lead = x.shape.slice(0, -2);
  const rows = transposeX ? x.shape[rank - 1] : x.shape[rank - 2];
  const inner = transposeX ? x.shape[rank - 2] : x.shape[rank - 1];
  const cols = transposeY ? y.shape[rank - 2] : y.shape[rank - 1];
  const batch = lead.reduce((p, d) => p * d, 1);
  const out = batchedProducts(gradKernels()!, hostData(x), hostData(y), batch, rows, inner, cols, transposeX, transposeY);
  return tf.tensor(out, [...lead, rows, cols]);
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

/** The slice of the backend's interface the host kernels use. */
interface HostBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Transpose and GatherV2 as copies on the host, in place of `backendName`'s kernels (kept for
 * the cases not handled here: transposes of other types than float32, gathers with batch
 * dimensions).
 */
function registerHostCopies(backendName: string): void {
  const transpose = tf.getKernel('Transpose', backendName);
  const gather = tf.getKernel('GatherV2', backendName);
  if (transpose === undefined || gather === undefined) return;
  tf.unregisterKernel('Transpose', backendName);
  tf.registerKernel({
    ...transpose,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = inputs.x as tf.TensorInfo;
      // float32 only, so that the copy loop sees one array type (other types keep wasm's kernel).
      if (x.dtype !== 'float32') return transpose.kernelFunc(args);
      const host = backend as unknown as HostBackend;
      const perm = (attrs as unknown as { perm: number[] }).perm;
      const out = host.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
      transposeInto(host.typedArrayFromHeap(x) as Float32Array, host.typedArrayFromHeap(out) as Float32Array, x.shape, perm);
      return out;
    },
  });
  tf.unregisterKernel('GatherV2', backendName);
  tf.registerKernel({
    ...gather,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
      if (batchDims !== 0) return gather.kernelFunc(args);
      const host = backend as unknown as HostBackend;
      const x = inputs.x as tf.TensorInfo;
      const indices = inputs.indices as tf.TensorInfo;
      const ax = axis < 0 ? axis + x.shape.length : axis;
      const ids = host.readSync(indices.dataId);
      const dim = x.shape[ax];
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] < 0 || ids[i] >= dim) throw new Error(`GatherV2: the index value ${ids[i]} is not in [0, ${dim - 1}]`);
      }
      const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
      const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
      const out = host.makeOutput([...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)], x.dtype);
      const src = host.typedArrayFromHeap(x);
      const dst = host.typedArrayFromHeap(out);
      for (let o = 0, w = 0; o < outer; o++) {
        for (let i = 0; i < ids.length; i++, w += inner) {
          const from = (o * dim + ids[i]) * inner;
          if (inner === 1) dst[w] = src[from];
          else dst.set(src.subarray(from, from + inner), w);
        }
      }
      return out;
    },
  });
}

/** `dst` = `src` of `shape` with its axes permuted by `perm` (output axis i is input axis perm[i]). */
function transposeInto(src: Float32Array, dst: Float32Array, shape: number[], perm: number[]): void {
  const rank = shape.length;
  const size = shape.reduce((p, d) => p * d, 1);
  if (size === 0) return;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const outShape = perm.map((p) => shape[p]);
  const stride = perm.map((p) => inStrides[p]); // input step along each output axis
  const last = rank === 0 ? 1 : outShape[rank - 1];
  const step = rank === 0 ? 1 : stride[rank - 1];
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0;
  for (let w = 0; w < size; ) {
    for (let j = 0, r = base; j < last; j++, r += step) dst[w++] = src[r];
    // The next output row: an odometer over the output's leading axes.
    for (let ax = rank - 2; ax >= 0; ax--) {
      index[ax]++;
      base += stride[ax];
      if (index[ax] < outShape[ax]) break;
      base -= stride[ax] * outShape[ax];
      index[ax] = 0;
    }
  }
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
