import * as tf from '@tensorflow/tfjs';
import { columnSums, gradKernels, hostData } from './fast/grad-kernels';
import { heapGemm, registerHeapConv, registerHeapMatMul } from './fast/heap-gemm';
import { replaceKernel } from './fast/replace-kernel';

/**
 * What tfjs lacks to differentiate the priors, installed once before the first gradient tape:
 *
 * - The wasm backend has no UnsortedSegmentSum, the gradient of gather (every embedding lookup,
 *   the cross entropy's pick of the target logit, summary attention's key gather), so nothing
 *   with an embedding could be trained on wasm.
 * - BatchMatMul's gradient does not undo broadcasting: `[N, T, in] @ [in, out]` (the
 *   transformer's Conv1D, kept 3-D because a token step pays for every extra op) runs as
 *   a batch of N against one matrix, and the weight's gradient comes back `[N, in, out]`; here
 *   it is one product over all N·T rows.
 * - wasm's BatchMatMul multiplies transposed operands 10-30x slower than plain ones (measured:
 *   [1024, 2048]ᵀ·[1024, 256] took 1.8 s), and batches of matrices (attention's [heads, blocks]
 *   of small products) one scalar at a time (3 GFLOP/s). It is replaced for the process by the
 *   heap kernel of src/train/fast (`registerHeapMatMul`: about 60 GFLOP/s plain or transposed,
 *   against XNNPACK's 40-45), and every gradient is then one product with transposition flags.
 * - The 1-D convolutions (Conv2D and FusedConv2D of height 1, stride 1: the VQ-VAE's and the
 *   upsamplers' conditioners', forward and input gradient) run on the same kernel, 1.25x
 *   XNNPACK's (`registerHeapConv`).
 * - Add's and Multiply's gradients sum broadcast operands with Sum, slow on wasm over leading
 *   axes (`reduceTo`); Mean's builds its ones as a JavaScript array (every LayerNorm).
 * - wasm's Transpose, Reverse and GatherV2 move one element at a time through index arithmetic
 *   (2.6 ms to transpose [1024, 256], 7 ms to gather 1024 rows of 256, 110 µs against 27 to
 *   reverse a [3, 32, 32] conv kernel for its input gradient): they are replaced for the process
 *   by copies on the host (`registerHostCopies`), which give the same values bit for bit.
 */
export function installTrainingGradients(): void {
  if (installed) return;
  installed = true;
  registerSegmentSum('wasm');
  registerHostCopies('wasm');
  registerHeapMatMul('wasm');
  registerHeapConv('wasm');
  const matMul = tf.getGradient('BatchMatMul')!;
  tf.registerGradient({
    ...matMul,
    gradFunc: (dyIn, saved, attrs) => {
      const dy = dyIn as tf.Tensor;
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      // With the heap kernel (registerHeapMatMul) a product reads a transposed operand where it
      // lies; otherwise each transpose is made first.
      const heap = heapGemm() !== null;
      const mm = (x: tf.Tensor, tx: boolean, y: tf.Tensor, ty: boolean) => (heap ? tf.matMul(x, y, tx, ty) : tf.matMul(tx ? swap(x) : x, ty ? swap(y) : y));
      // C = op(A)·op(B).
      const [da, db] = !transposeA && !transposeB
        ? [() => mm(dy, false, b, true), () => mm(a, true, dy, false)]
        : !transposeA && transposeB
          ? [() => mm(dy, false, b, false), () => mm(dy, true, a, false)]
          : transposeA && !transposeB
            ? [() => mm(b, false, dy, true), () => mm(a, false, dy, false)]
            : [() => mm(b, true, dy, true), () => mm(dy, true, a, true)];
      // A weight (a matrix applied to every row of A) takes its gradient as one product over all
      // rows of A and dy together: no per-item products to sum over the batch.
      const weightGrad = b.shape.length === 2 && a.shape.length > 2 && !transposeA
        ? () => {
          const rows = tf.reshape(a, [-1, a.shape[a.shape.length - 1]]);
          const dyRows = tf.reshape(dy, [-1, dy.shape[dy.shape.length - 1]]);
          return transposeB ? mm(dyRows, true, rows, false) : mm(rows, true, dyRows, false);
        }
        : undefined;
      return { a: () => unbroadcast(da(), a.shape), b: weightGrad ?? (() => unbroadcast(db(), b.shape)) };
    },
  });
  const mean = tf.getGradient('Mean')!;
  tf.registerGradient({
    ...mean,
    gradFunc: (dyIn, saved, attrs) => {
      const dy = dyIn as tf.Tensor;
      const [x] = saved;
      const axes = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
      const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const reduceSize = axes.reduce((p, axis) => p * x.shape[axis], 1);
      // tfjs's own formula, dy·1/n broadcast, with its ones made by the backend's Fill kernel
      // instead of a JavaScript array copied in (1.3 ms against 0.25 for [1024, 256]).
      return { x: () => tf.div(tf.mul(tf.reshape(dy, expanded), tf.fill(x.shape, 1)), reduceSize) };
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
 * Transpose, Reverse and GatherV2 as copies on the host, in place of `backendName`'s kernels
 * (kept for the cases not handled here: transposes and reversals of other types than float32,
 * gathers with batch dimensions).
 */
function registerHostCopies(backendName: string): void {
  replaceKernel('Transpose', backendName, (transpose) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x as tf.TensorInfo;
    // float32 only, so that the copy loop sees one array type (other types keep wasm's kernel).
    if (x.dtype !== 'float32') return transpose.kernelFunc(args);
    const host = backend as unknown as HostBackend;
    const perm = (attrs as unknown as { perm: number[] }).perm;
    const out = host.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
    transposeInto(host.typedArrayFromHeap(x) as Float32Array, host.typedArrayFromHeap(out) as Float32Array, x.shape, perm);
    return out;
  });
  replaceKernel('Reverse', backendName, (reverse) => (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype !== 'float32' || x.shape.length === 0) return reverse.kernelFunc(args);
    const host = backend as unknown as HostBackend;
    const axes = tf.util.parseAxisParam((attrs as unknown as { dims: number | number[] }).dims, x.shape);
    const out = host.makeOutput(x.shape, x.dtype);
    reverseInto(host.typedArrayFromHeap(x) as Float32Array, host.typedArrayFromHeap(out) as Float32Array, x.shape, axes);
    return out;
  });
  replaceKernel('GatherV2', backendName, (gather) => (args) => {
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
  });
}

/** `dst` = `src` of `shape` with its axes permuted by `perm` (output axis i is input axis perm[i]). */
function transposeInto(src: Float32Array, dst: Float32Array, shape: number[], perm: number[]): void {
  const inStrides = rowMajorStrides(shape);
  stridedCopy(src, dst, perm.map((p) => shape[p]), perm.map((p) => inStrides[p]), 0);
}

/** `dst` = `src` of `shape` reversed along `axes`. */
function reverseInto(src: Float32Array, dst: Float32Array, shape: number[], axes: number[]): void {
  const inStrides = rowMajorStrides(shape);
  // A reversed axis is read from its last index backwards.
  const start = axes.reduce((at, ax) => at + (shape[ax] - 1) * inStrides[ax], 0);
  stridedCopy(src, dst, shape, inStrides.map((s, ax) => (axes.includes(ax) ? -s : s)), start);
}

function rowMajorStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  for (let i = shape.length - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * `dst` (row-major over `outShape`) = `src` read from index `start`, stepping `stride[i]` (which
 * may be negative) along output axis i.
 */
function stridedCopy(src: Float32Array, dst: Float32Array, outShape: number[], stride: number[], start: number): void {
  const rank = outShape.length;
  const size = outShape.reduce((p, d) => p * d, 1);
  if (size === 0) return;
  const last = rank === 0 ? 1 : outShape[rank - 1];
  const step = rank === 0 ? 1 : stride[rank - 1];
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  // Rows contiguous in the input (the last axis kept, as splitting attention heads keeps it) go
  // by block copies, faster than element by element from 32 floats a row.
  const blocks = step === 1 && last >= 32;
  let base = start;
  for (let w = 0; w < size; ) {
    if (blocks) {
      dst.set(src.subarray(base, base + last), w);
      w += last;
    } else {
      for (let j = 0, r = base; j < last; j++, r += step) dst[w++] = src[r];
    }
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
