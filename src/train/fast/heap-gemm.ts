import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { compileRelaxedSimdModule, wasmApi, WasmMemory } from '../../prior/fast/wasm-api';
import { replaceKernel } from './replace-kernel';

/** The export of heap-gemm.wasm (see heap-gemm.wat). Pointers and strides are byte offsets. */
interface GemmExports {
  gemm(a: number, ars: number, acs: number, b: number, ps: number, bs: number, bsTail: number, c: number, cs: number, m: number, n: number, k: number, acc: number): void;
  pack(b: number, bks: number, bjs: number, panels: number, k: number, n: number): void;
  fill_rows(c: number, cs: number, m: number, n: number, src: number): void;
  relu(p: number, n: number): void;
  adam(p: number, g: number, m: number, v: number, n: number, po: number, mo: number, vo: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, eps: number, wd: number, step: number): void;
}

/** The slice of tfjs-wasm's backend the heap kernels use. */
interface WasmBackend {
  wasm: { asm: { memory: WasmMemory }; HEAPF32: Float32Array; _malloc(bytes: number): number; _free(pointer: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/**
 * Chunks of the inner dimension and of C's columns per kernel call: a chunk of B, packed (128 ×
 * 256 floats, 128 KB), stays in the L2 cache while every row block of A passes over it, and the 4
 * rows of A a block reads (2 KB) stay in L1. Without the column chunks a [1024, 256]·[256, 2048]
 * product ran at 30 GFLOP/s instead of 50.
 */
const K_CHUNK = 128;
const N_CHUNK = 256;
/**
 * Rows of A from which a chunk of B is packed: packing costs a pass over the chunk, which pays
 * when many row blocks reuse it (a conv filter's gradient, 64 rows, ran 7% faster unpacked).
 */
const PACK_ROWS = 128;

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WasmMemory, HeapGemm>();

/**
 * Matrix products on tensors in place in tfjs-wasm's heap. One instance per backend memory; a
 * WebAssembly memory keeps its identity when it grows, so the instance stays valid.
 */
export class HeapGemm {
  readonly k: GemmExports;
  /**
   * Heap bytes for one packed chunk of B, allocated by the first product that packs (not before:
   * an allocation can grow the heap, which detaches the views of it callers may hold).
   */
  private panels = 0;

  constructor(module: WebAssembly.Module, readonly backend: WasmBackend) {
    this.k = new wasmApi.Instance(module, { env: { memory: backend.wasm.asm.memory } }).exports as unknown as GemmExports;
  }

  /** The heap byte offset of a tensor's values. */
  offset(t: tf.TensorInfo): number {
    return this.backend.dataIdMap.get(t.dataId)!.memoryOffset;
  }

  /** Whether `view` lies in this heap (a view `hostData` gave of a tensor), so that its `byteOffset` is a heap offset. */
  holds(view: Float32Array): boolean {
    return view.buffer === this.backend.wasm.asm.memory.buffer;
  }

  /** `bytes` of heap scratch for `use`, freed after it (views of the heap taken before may be stale inside). */
  withScratch<T>(bytes: number, use: (pointer: number, heap: Float32Array) => T): T {
    const pointer = this.backend.wasm._malloc(bytes) >>> 0;
    try {
      return use(pointer, this.backend.wasm.HEAPF32);
    } finally {
      this.backend.wasm._free(pointer);
    }
  }

  /**
   * C = A·B (C += A·B with `accumulate`) for C [m, n] at byte offset c with row stride cs bytes,
   * A(i, k) at a + i·ars + k·acs and B(k, j) at b + k·bks + j·bjs (any strides: either operand
   * may be stored transposed). n must be a multiple of 4.
   */
  product(a: number, ars: number, acs: number, b: number, bks: number, bjs: number, c: number, cs: number, m: number, n: number, k: number, accumulate = false): void {
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (accumulate) return;
      const heap = this.backend.wasm.HEAPF32;
      for (let i = 0; i < m; i++) heap.fill(0, (c + i * cs) / 4, (c + i * cs) / 4 + n);
      return;
    }
    // Packing pays when many row blocks of A reuse a chunk of B; a transposed B is always packed.
    const packed = bjs !== 4 || m >= PACK_ROWS;
    for (let n0 = 0; n0 < n; n0 += N_CHUNK) {
      const nc = Math.min(N_CHUNK, n - n0);
      for (let k0 = 0; k0 < k; k0 += K_CHUNK) {
        const kc = Math.min(K_CHUNK, k - k0);
        const acc = accumulate || k0 > 0 ? 1 : 0;
        const b0 = b + k0 * bks + n0 * bjs;
        if (packed) {
          if (this.panels === 0) this.panels = this.backend.wasm._malloc(K_CHUNK * N_CHUNK * 4) >>> 0;
          this.k.pack(b0, bks, bjs, this.panels, kc, nc);
          this.k.gemm(a + k0 * acs, ars, acs, this.panels, kc * 32, 32, 16, c + 4 * n0, cs, m, nc, kc, acc);
        } else {
          this.k.gemm(a + k0 * acs, ars, acs, b0, 32, bks, bks, c + 4 * n0, cs, m, nc, kc, acc);
        }
      }
    }
  }
}

/**
 * The heap kernels of the current backend, or null when it is not tfjs-wasm or this WebAssembly
 * engine lacks SIMD128 or relaxed SIMD (then callers keep their tfjs formulation).
 */
export function heapGemm(): HeapGemm | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as WasmBackend;
  const memory = backend.wasm?.asm?.memory;
  if (memory === undefined) return null;
  if (compiled === undefined) compiled = compileRelaxedSimdModule(fs.readFileSync(path.join(__dirname, 'heap-gemm.wasm')));
  if (compiled === null) return null;
  let g = instances.get(memory);
  if (g === undefined) instances.set(memory, (g = new HeapGemm(compiled, backend)));
  return g;
}

/**
 * BatchMatMul on `backendName` by `HeapGemm`, in place of its kernel, which multiplies batches of
 * matrices (attention's [heads, blocks] of small products) one scalar at a time, at 3 GFLOP/s,
 * and transposed operands 10-30x slower than plain ones; plain 2-D products it runs through
 * XNNPACK at about 40-45 GFLOP/s, against about 60 here with fused multiply-adds (the values
 * differ from XNNPACK's by float32 rounding). A is read transposed in place; B, transposed or
 * not, is packed into the kernel's panels or read in place. The original kernel
 * keeps what is not handled here: other types than float32, a column count that is not a multiple
 * of 4, batch shapes that broadcast other than all-or-one.
 */
export function registerHeapMatMul(backendName: string): void {
  if (heapGemm() === null) return;
  replaceKernel('BatchMatMul', backendName, (original) => (args) => heapBatchMatMul(args) ?? original.kernelFunc(args));
}

/** BatchMatMul's kernel by `HeapGemm` (see `registerHeapMatMul`), or null for a case it leaves to tfjs. */
function heapBatchMatMul(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo | null {
  const g = heapGemm();
  const a = args.inputs.a as tf.TensorInfo;
  const b = args.inputs.b as tf.TensorInfo;
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (g === null || a.dtype !== 'float32' || b.dtype !== 'float32' || n % 4 !== 0) return null;
  const batch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const count = batch.reduce((p, d) => p * d, 1);
  // Each operand holds either every matrix of the output's batch, in its order, or one matrix.
  const countA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const countB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  if ((countA !== 1 && countA !== count) || (countB !== 1 && countB !== count)) return null;
  const out = g.backend.makeOutput([...batch, m, n], 'float32');
  const aAt = g.offset(a);
  const bAt = g.offset(b);
  const cAt = g.offset(out);
  const ars = transposeA ? 4 : 4 * k;
  const acs = transposeA ? 4 * m : 4;
  const [bks, bjs] = transposeB ? [4, 4 * k] : [4 * n, 4];
  for (let p = 0; p < count; p++) {
    const aP = aAt + (countA === 1 ? 0 : p) * m * k * 4;
    const bP = bAt + (countB === 1 ? 0 : p) * k * n * 4;
    g.product(aP, ars, acs, bP, bks, bjs, cAt + p * m * n * 4, 4 * n, m, n, k);
  }
  return out;
}

const BATCHED_PRODUCT = 'JukeboxHeapBatchMatMul';

/**
 * `tf.matMul(a, b, transposeA, transposeB)` for batches of matrices, by `HeapGemm` on tfjs-wasm
 * where BatchMatMul itself is left to tfjs (outside the training workers): wasm's kernel takes
 * attention's [N, H, ...] batches of small products one scalar at a time (for the default top
 * prior's probabilities·values, a forward pass over 4 windows went from 0.80-1.18 s to 0.69-0.83
 * s on 2 cores of an Intel Xeon). The values differ from tfjs's by float32 rounding, as the
 * training workers' do. It differentiates as BatchMatMul does (the gradient in force when the
 * tape runs), and any case the heap kernel leaves goes to BatchMatMul.
 */
export function batchedMatMul<R extends tf.Rank>(a: tf.Tensor<R>, b: tf.Tensor<R>, transposeA = false, transposeB = false): tf.Tensor<R> {
  if (heapGemm() === null) return tf.matMul(a, b, transposeA, transposeB) as tf.Tensor<R>;
  if (tf.getKernel(BATCHED_PRODUCT, 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: BATCHED_PRODUCT,
      backendName: 'wasm',
      kernelFunc: (args) => heapBatchMatMul(args) ?? tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc(args),
    });
    tf.registerGradient({
      kernelName: BATCHED_PRODUCT,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => tf.getGradient('BatchMatMul')!.gradFunc(dy, saved, attrs),
    });
  }
  return tf.engine().runKernel(BATCHED_PRODUCT, { a, b }, { transposeA, transposeB }) as tf.Tensor<R>;
}

/** Output rows per pass of a convolution's taps: the rows' outputs (128 KB at 64 channels) stay in cache across the taps. */
const CONV_ROWS = 512;

/**
 * Conv2D and FusedConv2D on `backendName` by `HeapGemm` for the 1-D convolutions of the VQ-VAE
 * (input and kernel of height 1, stride 1, any dilation and padding, channels last): the output
 * as its bias (or zero), plus one product per tap of the shifted input rows and the tap's
 * [C_in, C_out] matrix, then the ReLU when fused; rows in chunks so that a chunk's outputs stay
 * in cache across the taps. XNNPACK's convolution runs at about 43 GFLOP/s on a 3-tap 64→64
 * convolution. The original kernels keep everything else (strides, 2-D kernels, other
 * activations, C_out not a multiple of 4).
 */
export function registerHeapConv(backendName: string): void {
  if (heapGemm() === null) return;
  for (const kernelName of ['Conv2D', 'FusedConv2D']) {
    replaceKernel(kernelName, backendName, (original) => (args) => {
      const g = heapGemm();
      const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const attrs = args.attrs as unknown as {
        strides: number | [number, number]; pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
        dilations: number | [number, number]; dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; activation?: string;
      };
      const activation = attrs.activation ?? 'linear';
      if (g === null || x!.dtype !== 'float32' || preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu')) {
        return original.kernelFunc(args);
      }
      const info = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], filter!.shape as [number, number, number, number],
        attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'));
      const oneD = info.inHeight === 1 && info.filterHeight === 1 && info.strideHeight === 1 && info.strideWidth === 1
        && info.padInfo.top === 0 && info.padInfo.bottom === 0 && info.dataFormat === 'channelsLast';
      if (!oneD || info.outChannels % 4 !== 0 || (bias !== undefined && bias.shape.length !== 1)) return original.kernelFunc(args);
      const { batchSize: batch, inWidth: tIn, outWidth: tOut, inChannels: cIn, outChannels: cOut, filterWidth: taps, dilationWidth: d } = info;
      const left = info.padInfo.left;
      const out = g.backend.makeOutput(info.outShape, 'float32');
      const xAt = g.offset(x!);
      const wAt = g.offset(filter!);
      const yAt = g.offset(out);
      const bAt = bias === undefined ? 0 : g.offset(bias);
      if (bAt === 0) g.backend.wasm.HEAPF32.fill(0, yAt / 4, yAt / 4 + batch * tOut * cOut);
      for (let b = 0; b < batch; b++) {
        for (let t0 = 0; t0 < tOut; t0 += CONV_ROWS) {
          const t1 = Math.min(tOut, t0 + CONV_ROWS);
          if (bAt !== 0) g.k.fill_rows(yAt + (b * tOut + t0) * cOut * 4, cOut * 4, t1 - t0, cOut, bAt);
          for (let tap = 0; tap < taps; tap++) {
            // Output t reads input t + tap·d − left: only rows where that lies in [0, T_in).
            const shift = tap * d - left;
            const first = Math.max(t0, -shift);
            const end = Math.min(t1, tIn - shift);
            if (end <= first) continue;
            g.product(xAt + (b * tIn + first + shift) * cIn * 4, cIn * 4, 4, wAt + tap * cIn * cOut * 4, cOut * 4, 4,
              yAt + (b * tOut + first) * cOut * 4, cOut * 4, end - first, cOut, cIn, true);
          }
          if (activation === 'relu') g.k.relu(yAt + (b * tOut + t0) * cOut * 4, (t1 - t0) * cOut);
        }
      }
      return out;
    });
  }
}

/** Adam's constants for `heapAdam`, each used as float32 (as tfjs uses a number in an operation). */
export interface AdamConstants {
  /** The gradient is divided by this (the clipping scale). */
  scale: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** The step size, bias corrections folded in. */
  stepSize: number;
}

const ADAM = 'JukeboxFusedAdam';

/**
 * One parameter's Adam update by the heap kernel (`adam` in heap-gemm.wat: one pass instead of
 * a dozen tfjs operations, each a pass and a tensor), or null where the kernel is not available
 * (then the caller runs the tfjs operations, which give the same values): [p', m', v'].
 */
export function heapAdam(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): [tf.Tensor, tf.Tensor, tf.Tensor] | null {
  if (heapGemm() === null || [p, g, m, v].some((t) => t.dtype !== 'float32')) return null;
  if (tf.getKernel(ADAM, 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: ADAM,
      backendName: 'wasm',
      kernelFunc: ({ inputs, attrs }) => {
        const h = heapGemm()!;
        const [pi, gi, mi, vi] = (['p', 'g', 'm', 'v'] as const).map((name) => inputs[name] as tf.TensorInfo);
        const a = attrs as unknown as AdamConstants;
        const outs = [0, 1, 2].map(() => h.backend.makeOutput(pi.shape, 'float32'));
        const n = pi.shape.reduce((q, d) => q * d, 1);
        h.k.adam(h.offset(pi), h.offset(gi), h.offset(mi), h.offset(vi), n, h.offset(outs[0]), h.offset(outs[1]), h.offset(outs[2]),
          a.scale, a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.eps, a.weightDecay, a.stepSize);
        return outs;
      },
    });
  }
  return tf.engine().runKernel(ADAM, { p, g, m, v }, c as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}
