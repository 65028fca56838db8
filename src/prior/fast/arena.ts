import * as fs from 'fs';
import * as path from 'path';
import type { MatmulPool } from './threads';
import { wasmApi, WasmMemory } from './wasm-api';

/** The exports of kernels.wasm (see kernels.wat for what each computes). Pointers are byte offsets. */
interface KernelExports {
  matmul(w: number, b: number, x: number, xs: number, y: number, ys: number, nIn: number, panels: number, m: number): void;
  scores(q: number, k: number, stride: number, count: number, out: number, d: number, scale: number): void;
  weighted(p: number, v: number, stride: number, count: number, out: number, d: number): void;
  add(x: number, a: number, y: number, n: number): void;
  addScaled(x: number, a: number, m: number, n: number, s: number): void;
  layernorm(x: number, y: number, g: number, b: number, width: number, rows: number, stride: number, eps: number): void;
  quickGelu(x: number, n: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * The compiled kernels, or null where this WebAssembly engine lacks SIMD128 (then sampling keeps
 * the tfjs path). Compiled once, synchronously: the module is small.
 */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new wasmApi.Module(fs.readFileSync(path.join(__dirname, 'kernels.wasm')));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

const PAGE = 65536;
/** The memory's declared maximum in kernels.wat (4 GiB). */
const MAX_PAGES = 65536;
/** Allocations are 64-byte aligned: one cache line, and whole f32x4 panels rows. */
const ALIGN = 64;
/**
 * Bytes of one arena: a wasm32 memory addresses 4 GiB at most, and the kernels compare pointers
 * unsigned, so any size below that works; a model larger than this is spread over several arenas.
 */
export const ARENA_MAX_BYTES = (MAX_PAGES - 1) * PAGE;

/**
 * Products smaller than this many multiply-adds stay on the calling thread even with workers:
 * handing a 256-wide product (18 µs) to a worker cost more than it saved in every measurement
 * here (see samplingThreads).
 */
const MIN_SPLIT_MACS = 1 << 20;

/**
 * One instance of the kernels with its own linear memory, and a bump allocator over it. A model's
 * packed weights are allocated first and stay; what one sampling call needs (KV caches, scratch
 * rows) is allocated above a mark and released after it, so memory is reused from call to call.
 * The memory is shared (see threads.ts), so workers can run their share of a product in it.
 */
export class Arena {
  readonly k: KernelExports;
  readonly memory: WasmMemory;
  /** Workers that share the big products, and this arena's index among their memories. */
  pool: { workers: MatmulPool; index: number } | null = null;
  private top = ALIGN;
  private view: Float32Array;

  constructor(module: WebAssembly.Module) {
    this.memory = new wasmApi.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.k = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.view = new Float32Array(this.memory.buffer);
  }

  /** The whole memory as floats (index = byte offset / 4); valid until the next `alloc`. */
  get f32(): Float32Array {
    return this.view;
  }

  /** `matmul` (kernels.wat), shared with the workers when it is large enough to pay for them. */
  matmul(w: number, b: number, x: number, xs: number, y: number, ys: number, nIn: number, panels: number, m: number): void {
    const pool = this.pool;
    if (pool === null || panels < 2 || nIn * panels * 16 * m < MIN_SPLIT_MACS) {
      this.k.matmul(w, b, x, xs, y, ys, nIn, panels, m);
      return;
    }
    const own = pool.workers.post(pool.index, w, b, x, xs, y, ys, nIn, panels, m);
    this.k.matmul(w, b, x, xs, y, ys, nIn, own, m);
    pool.workers.wait();
  }

  /** Bytes in use. */
  get used(): number {
    return this.top;
  }

  /** Whether `bytes` more would still fit in this arena. */
  fits(bytes: number): boolean {
    return this.top + roundUp(bytes, ALIGN) <= ARENA_MAX_BYTES;
  }

  /** Byte offset of `floats` zeroed floats. */
  alloc(floats: number): number {
    const bytes = roundUp(floats * 4, ALIGN);
    if (!this.fits(bytes)) throw new Error(`fast sampling: an arena cannot hold ${bytes} more bytes`);
    const at = this.top;
    this.top += bytes;
    const need = Math.ceil(this.top / PAGE) - this.view.length / (PAGE / 4);
    if (need > 0) {
      this.memory.grow(need);
      this.view = new Float32Array(this.memory.buffer);
    }
    this.view.fill(0, at / 4, this.top / 4);
    return at;
  }

  /** Frees everything allocated after `mark` (a value of `used`). */
  release(mark: number): void {
    this.top = mark;
  }
}

export function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
