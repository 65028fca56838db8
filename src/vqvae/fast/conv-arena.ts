import * as fs from 'fs';
import * as path from 'path';
import { compileRelaxedSimdModule, wasmApi, WasmMemory } from '../../prior/fast/wasm-api';
import { ConvThreads, vqvaeThreads } from './conv-threads';

/** The exports of conv-kernels.wasm (see conv-kernels.wat for what each computes). Pointers are byte offsets. */
export interface ConvKernels {
  conv(w: number, b: number, x: number, xs: number, xd: number, taps: number, nIn: number, y: number, ys: number,
    panels: number, rows: number, outFloor: number, res: number): void;
  winograd(v: number, zero: number, b: number, x: number, xs: number, d: number, nIn: number, y: number, ys: number,
    panels: number, groups: number, per: number, scratch: number, inFloor: number, outFloor: number): void;
  wresblock(v: number, zero: number, b3: number, w1: number, b1: number, x: number, xs: number, d: number, nIn: number, nState: number,
    y: number, groups: number, per: number, scratch: number, h: number): void;
  resblock(w3: number, b3: number, w1: number, b1: number, x: number, xs: number, d: number, nIn: number, nState: number,
    y: number, scratch: number, rows: number): void;
  argmax(x: number, stride: number, n: number, rows: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * The compiled kernels, or null where this WebAssembly engine lacks SIMD128 or relaxed SIMD (then
 * the VQ-VAE keeps the tfjs path). Compiled once, synchronously: the module is small.
 */
export function convKernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = compileRelaxedSimdModule(fs.readFileSync(path.join(__dirname, 'conv-kernels.wasm')));
  return compiled;
}

const PAGE = 65536;
/** The memory's declared maximum in conv-kernels.wat (4 GiB): the kernels compare pointers unsigned. */
const MAX_BYTES = (65536 - 1) * PAGE;
/** Allocations are 64-byte aligned: one cache line. */
const ALIGN = 64;

/**
 * One instance of the conv kernels with its own linear memory and a bump allocator over it. A
 * call packs its weights and lays out its activations from the bottom, then releases them all, so
 * the memory grows to the largest call (one chunk, when streaming) and is reused after that.
 * Allocations are not zeroed: callers zero what they read before writing (the padding rows).
 */
export class ConvArena {
  readonly k: ConvKernels;
  readonly memory: WasmMemory;
  private top = ALIGN;
  private f32View: Float32Array;
  /** Workers sharing the convolutions, started at the first call that wants them (null: none). */
  private pool: ConvThreads | null = null;
  /** How many workers were asked for when `pool` was made (undefined: not yet). */
  private poolWanted: number | undefined;

  constructor(private readonly module: WebAssembly.Module) {
    this.memory = new wasmApi.Memory({ initial: 1, maximum: 65536, shared: true });
    this.k = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as ConvKernels;
    this.f32View = new Float32Array(this.memory.buffer);
  }

  /** The whole memory as floats (index = byte offset / 4); valid until the next `alloc`. */
  get f32(): Float32Array {
    return this.f32View;
  }

  /** The whole memory as int32 (index = byte offset / 4); valid until the next `alloc`. */
  get i32(): Int32Array {
    return new Int32Array(this.f32View.buffer, 0, this.f32View.length);
  }

  /**
   * The worker threads sharing this arena's convolutions (`vqvaeThreads()` − 1 of them), or null
   * for none: one thread wanted, or the workers failed to start. A changed JUKEBOX_VQVAE_THREADS
   * restarts them at the next call.
   */
  threads(): ConvThreads | null {
    const count = vqvaeThreads() - 1;
    if (this.poolWanted !== count) {
      this.pool?.close();
      this.poolWanted = count;
      try {
        this.pool = count > 0 ? new ConvThreads(this.module, this.memory, count) : null;
      } catch {
        this.pool = null;
      }
    }
    return this.pool;
  }

  /** Bytes in use: a mark for `release`. */
  get used(): number {
    return this.top;
  }

  /** Byte offset of `bytes` uninitialised bytes. */
  alloc(bytes: number): number {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    if (this.top + size > MAX_BYTES) {
      throw new Error(`fast VQ-VAE: ${this.top + size} bytes exceed the 4 GiB a WebAssembly memory can address; encode or decode in chunks (encodeChunked, decodeChunked)`);
    }
    const at = this.top;
    this.top += size;
    const need = Math.ceil(this.top / PAGE) - this.f32View.length / (PAGE / 4);
    if (need > 0) {
      this.memory.grow(need);
      this.f32View = new Float32Array(this.memory.buffer);
    }
    return at;
  }

  /** Frees everything allocated after `mark` (a value of `used`). */
  release(mark: number): void {
    this.top = mark;
  }
}

let shared: ConvArena | null | undefined;

/** This thread's arena, or null when the kernels cannot run here. */
export function convArena(): ConvArena | null {
  if (shared === undefined) {
    const module = convKernelModule();
    shared = module === null ? null : new ConvArena(module);
  }
  return shared;
}
