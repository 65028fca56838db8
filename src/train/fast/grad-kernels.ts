import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { wasmApi, WasmMemory } from '../../prior/fast/wasm-api';
import { HeapGemm, heapGemm } from './heap-gemm';

/** The exports of grad-kernels.wasm (see grad-kernels.wat). Pointers and strides are byte offsets. */
interface GradExports {
  gram(a: number, as: number, g: number, gs: number, n: number, c: number, ni: number, nj: number): void;
  colsum(g: number, gs: number, n: number, out: number, nj: number): void;
}

const PAGE = 65536;

/**
 * One instance of the gradient kernels over its own memory. Each call lays its operands out from
 * byte 0, so the memory holds one call's data at a time and grows to the largest call's (a
 * WebAssembly memory never shrinks).
 */
class GradKernels {
  readonly k: GradExports;
  private readonly memory: WasmMemory;
  private view: Float32Array;

  constructor(module: WebAssembly.Module) {
    this.memory = new wasmApi.Memory({ initial: 1, maximum: 65536 });
    this.k = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as GradExports;
    this.view = new Float32Array(this.memory.buffer);
  }

  /** The memory as floats, with at least `floats` of them, those from `zeroFrom` on zero. */
  zeroed(floats: number, zeroFrom = 0): Float32Array {
    const need = Math.ceil((floats * 4) / PAGE) - this.view.length / (PAGE / 4);
    if (need > 0) {
      this.memory.grow(need);
      this.view = new Float32Array(this.memory.buffer);
    }
    this.view.fill(0, zeroFrom, floats);
    return this.view;
  }
}

let instance: GradKernels | null | undefined;

/**
 * The kernels, or null where this WebAssembly engine lacks SIMD128 (then the training ops keep
 * their tfjs formulation). Compiled once, synchronously: the module is small.
 */
export function gradKernels(): GradKernels | null {
  if (instance === undefined) {
    try {
      instance = new GradKernels(new wasmApi.Module(fs.readFileSync(path.join(__dirname, 'grad-kernels.wasm'))));
    } catch {
      instance = null;
    }
  }
  return instance;
}

/**
 * The float32 values of `t`: on wasm a view of the backend's heap, without the copy `dataSync`
 * makes (a training step read gigabytes through copies, a tenth of its time in garbage
 * collection), valid until tfjs next allocates; elsewhere `dataSync`.
 */
export function hostData(t: tf.Tensor): Float32Array {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    return (tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(t);
  }
  return t.dataSync() as Float32Array;
}

/** Shape of a stride-1 conv1d: x [B, T_in, C_in] zero padded by `padding` on both sides, kernel [K, C_in, C_out]. */
export interface ConvGradientShape {
  batch: number;
  tIn: number;
  cIn: number;
  tOut: number;
  cOut: number;
  taps: number;
  dilation: number;
  padding: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** Copies rows of `cols` floats into rows of `stride` floats at float offset `at`, zero past `cols`. */
function place(view: Float32Array, at: number, data: Float32Array, rows: number, cols: number, stride: number): void {
  if (cols === stride) {
    view.set(data.subarray(0, rows * cols), at);
    return;
  }
  for (let r = 0, from = 0, to = at; r < rows; r++, to += stride) {
    for (let c = 0; c < cols; c++) view[to + c] = data[from++];
    for (let c = cols; c < stride; c++) view[to + c] = 0;
  }
}

/**
 * The output rows [first, end) whose input for `tap` is not padding: output t reads input
 * t + shift, shift = tap·d − padding, which must lie in [0, T_in).
 */
function tapRows(s: ConvGradientShape, tap: number): { shift: number; first: number; end: number } {
  const shift = tap * s.dilation - s.padding;
  return { shift, first: Math.max(0, -shift), end: Math.min(s.tOut, s.tIn - shift) };
}

/**
 * A stride-1 conv1d's filter and bias gradients from its input `x` [B, T_in, C_in] and output
 * gradient `g` [B, T_out, C_out]: dw[k] = Σ_b,t x̃[b, t + k·d]ᵀ g[b, t] with x̃ the zero-padded
 * input (each tap one `gram` over the rows whose input is not padding), db = Σ_b,t g[b, t].
 * Where x and g are views of tfjs-wasm's heap this runs on `HeapGemm` in place (C_out a multiple
 * of 4); otherwise their channels are padded to the kernel's multiples (4 in, 8 out) in a copy
 * into its own memory. Returns dw [K, C_in, C_out] and db [C_out].
 */
export function convFilterGradients(kernels: GradKernels, x: Float32Array, g: Float32Array, s: ConvGradientShape): { dw: Float32Array; db: Float32Array } {
  const heap = heapGemm();
  if (heap !== null && s.cOut % 4 === 0 && heap.holds(x) && heap.holds(g)) return heapFilterGradients(heap, x.byteOffset, g.byteOffset, s);
  const ni = roundUp(s.cIn, 4);
  const nj = roundUp(s.cOut, 8);
  const xAt = 0;
  const gAt = roundUp(s.batch * s.tIn * ni, 16);
  const cAt = gAt + roundUp(s.batch * s.tOut * nj, 16);
  const bAt = cAt + s.taps * ni * nj;
  const view = kernels.zeroed(bAt + nj, cAt);
  place(view, xAt, x, s.batch * s.tIn, s.cIn, ni);
  place(view, gAt, g, s.batch * s.tOut, s.cOut, nj);
  for (let b = 0; b < s.batch; b++) {
    for (let tap = 0; tap < s.taps; tap++) {
      const { shift, first, end } = tapRows(s, tap);
      if (end <= first) continue;
      const a = (xAt + (b * s.tIn + first + shift) * ni) * 4;
      const gp = (gAt + (b * s.tOut + first) * nj) * 4;
      kernels.k.gram(a, ni * 4, gp, nj * 4, end - first, (cAt + tap * ni * nj) * 4, ni, nj);
    }
  }
  kernels.k.colsum(gAt * 4, nj * 4, s.batch * s.tOut, bAt * 4, nj);
  const dw = new Float32Array(s.taps * s.cIn * s.cOut);
  for (let r = 0; r < s.taps * s.cIn; r++) {
    const tap = Math.floor(r / s.cIn);
    const i = r % s.cIn;
    const from = cAt + (tap * ni + i) * nj;
    dw.set(view.subarray(from, from + s.cOut), r * s.cOut);
  }
  return { dw, db: view.slice(bAt, bAt + s.cOut) };
}

/**
 * `convFilterGradients` on tensors in the heap at byte offsets x and g: per batch item and tap,
 * dw[tap] += x̃ᵀ·g over the rows whose input is not padding (A read transposed in place), and db
 * as a product of a one with every row of g (A's strides 0), each summed in order of t.
 */
function heapFilterGradients(gemm: HeapGemm, x: number, g: number, s: ConvGradientShape): { dw: Float32Array; db: Float32Array } {
  const dwFloats = s.taps * s.cIn * s.cOut;
  return gemm.withScratch((dwFloats + s.cOut + 1) * 4, (scratch, heap) => {
    const dbAt = scratch + dwFloats * 4;
    const one = dbAt + s.cOut * 4;
    heap.fill(0, scratch / 4, dbAt / 4);
    heap[one / 4] = 1;
    for (let b = 0; b < s.batch; b++) {
      for (let tap = 0; tap < s.taps; tap++) {
        const { shift, first, end } = tapRows(s, tap);
        if (end <= first) continue;
        gemm.product(x + (b * s.tIn + first + shift) * s.cIn * 4, 4, s.cIn * 4, g + (b * s.tOut + first) * s.cOut * 4, s.cOut * 4, 4,
          scratch + tap * s.cIn * s.cOut * 4, s.cOut * 4, s.cIn, s.cOut, end - first, true);
      }
    }
    gemm.product(one, 0, 0, g, s.cOut * 4, 4, dbAt, s.cOut * 4, 1, s.cOut, s.batch * s.tOut);
    return { dw: heap.slice(scratch / 4, scratch / 4 + dwFloats), db: heap.slice(dbAt / 4, dbAt / 4 + s.cOut) };
  });
}

/** Σ over rows of `values` [rows, cols] → [cols]: a broadcast operand's gradient. */
export function columnSums(kernels: GradKernels, values: Float32Array, rows: number, cols: number): Float32Array {
  const nj = roundUp(cols, 4);
  const outAt = roundUp(rows * nj, 16);
  const view = kernels.zeroed(outAt + nj, outAt);
  place(view, 0, values, rows, cols, nj);
  kernels.k.colsum(0, nj * 4, rows, outAt * 4, nj);
  return view.slice(outAt, outAt + cols);
}
