import * as os from 'os';
import { isMainThread, type Worker } from 'worker_threads';
import { startWorkers, workerJobLoop } from '../../prior/fast/threads';
import type { WasmMemory } from '../../prior/fast/wasm-api';
import type { ConvKernels } from './conv-arena';

/**
 * Worker threads that share the rows of every convolution of the fast VQ-VAE path. tfjs's threaded
 * wasm build cannot start its workers in Node (FACTS.md), so the other cores are used here
 * directly: the arena's memory is a shared WebAssembly memory, each worker instantiates the same
 * kernels over it, and the calling thread and the workers take blocks of a convolution's output
 * rows from a shared counter until none is left. Weights and activations live once in that
 * memory, so a thread costs no model copy (a worker pool of whole models costs one each); a row is
 * computed the same way whoever computes it, so results do not depend on the number of threads;
 * and a thread the scheduler holds back (the machine busy with other work) leaves its blocks to
 * the others instead of stalling them, as an even split would.
 *
 * Jobs are posted through a small shared Int32Array and `Atomics`, one convolution (a few to a few
 * hundred milliseconds) at a time.
 */

/** Int32 slots per worker in the control array; slot block 0 holds the shared words of a job. */
const SLOTS = 24;
/** Shared words: the job's tag and next block (see takeBlocks), and the blocks finished. */
const NEXT = 0;
const FINISHED = 1;
/** A job's tag sits above bit 19 of NEXT: 2^19 blocks of at least 32 rows each are enough. */
const TAG_SHIFT = 19;
const INDEX_MASK = (1 << TAG_SHIFT) - 1;
const TAG_MASK = (1 << (31 - TAG_SHIFT)) - 1;
/** Per-worker slot indices: job sequence number (posted), ready flag, job kind, block rows, arguments. */
const SEQ = 0;
const READY = 2;
const KIND = 3;
const BLOCK = 4;
const ARGS = 5;
/** Job kinds. */
const CONV = 0;
const QUANTISE = 1;
const WINOGRAD = 2;
const RESBLOCK = 3;
const WRESBLOCK = 4;
/** Polls of a shared word before sleeping on it (about 0.1 ms). */
const SPINS = 20000;
/** Latents per codebook-score block of a quantise job (see conv-runner.ts). */
export const SCORE_ROWS = 32;

/**
 * Takes row blocks of job `tag` until none is left: `body(from, count)` for each, then counts it
 * done. `sync[NEXT]` holds the job's tag above TAG_SHIFT and the next block below it; a block is
 * taken by a compare-exchange that also checks the tag, so a worker that wakes late, after its job
 * is over and the next one posted, can never take a block of the next job with the last one's
 * arguments. The workers run the same loop (WORKER_SOURCE has it in JavaScript).
 */
function takeBlocks(sync: Int32Array, tag: number, rows: number, block: number, body: (from: number, count: number) => void): void {
  const blocks = Math.ceil(rows / block);
  for (;;) {
    const v = Atomics.load(sync, NEXT);
    if (v >>> TAG_SHIFT !== tag || (v & INDEX_MASK) >= blocks) return;
    if (Atomics.compareExchange(sync, NEXT, v, v + 1) !== v) continue;
    const from = (v & INDEX_MASK) * block;
    body(from, Math.min(block, rows - from));
    if (Atomics.add(sync, FINISHED, 1) + 1 === blocks) Atomics.notify(sync, FINISHED);
  }
}

/**
 * Scores `rows` latents against the codebook in blocks of SCORE_ROWS and takes each row's best code
 * (WORKER_SOURCE has it in JavaScript).
 */
export function quantiseRows(k: ConvKernels, w: number, b: number, z: number, zStride: number, width: number, bins: number, rows: number, scores: number, codes: number): void {
  for (let start = 0; start < rows; start += SCORE_ROWS) {
    const n = Math.min(SCORE_ROWS, rows - start);
    k.conv(w, b, z + start * zStride, zStride, 0, 1, width, scores, bins * 4, bins / 8, n, -Infinity, 0);
    k.argmax(scores, bins * 4, bins, n, codes + start * 4);
  }
}

/**
 * The worker: instantiates the kernels over the arena's memory, then runs jobs forever. A conv job
 * carries the `conv` kernel's arguments for all the rows (the floors as 0 = ReLU, 1 = none), a
 * Winograd job the `winograd` kernel's for all the groups with this worker's own scratch, a
 * residual-block job the `resblock` or `wresblock` kernel's for all the rows or groups with this
 * worker's own scratch, and a
 * quantise job those of `quantiseRows` with this worker's own score buffer.
 */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { module, memory, control, slot } = workerData;
const sync = new Int32Array(control, 0, ${SLOTS});
const c = new Int32Array(control, (slot + 1) * ${SLOTS} * 4, ${SLOTS});
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const floor = (v) => (v === 0 ? 0 : -Infinity);
// takeBlocks and quantiseRows as above, in plain JavaScript.
function takeBlocks(sync, tag, rows, block, body) {
  const blocks = Math.ceil(rows / block);
  for (;;) {
    const v = Atomics.load(sync, ${NEXT});
    if (v >>> ${TAG_SHIFT} !== tag || (v & ${INDEX_MASK}) >= blocks) return;
    if (Atomics.compareExchange(sync, ${NEXT}, v, v + 1) !== v) continue;
    const from = (v & ${INDEX_MASK}) * block;
    body(from, Math.min(block, rows - from));
    if (Atomics.add(sync, ${FINISHED}, 1) + 1 === blocks) Atomics.notify(sync, ${FINISHED});
  }
}
function quantiseRows(k, w, b, z, zStride, width, bins, rows, scores, codes) {
  for (let start = 0; start < rows; start += ${SCORE_ROWS}) {
    const n = Math.min(${SCORE_ROWS}, rows - start);
    k.conv(w, b, z + start * zStride, zStride, 0, 1, width, scores, bins * 4, bins / 8, n, -Infinity, 0);
    k.argmax(scores, bins * 4, bins, n, codes + start * 4);
  }
}
${workerJobLoop(READY, SEQ, SPINS, `
  const a = Array.from(c.subarray(${ARGS}, ${ARGS} + 15));
  if (c[${KIND}] === ${CONV}) {
    const [w, b, x, xs, xd, taps, nIn, y, ys, panels, rows, fout, res] = a;
    takeBlocks(sync, seen & ${TAG_MASK}, rows, c[${BLOCK}], (from, count) =>
      k.conv(w, b, x + from * xs, xs, xd, taps, nIn, y + from * ys, ys, panels, count, floor(fout), res));
  } else if (c[${KIND}] === ${WRESBLOCK}) {
    const [v, zero, b3, w1, b1, x, xs, d, nIn, nState, y, groups, per, scratch, h] = a;
    takeBlocks(sync, seen & ${TAG_MASK}, groups, c[${BLOCK}], (from, count) =>
      k.wresblock(v, zero, b3, w1, b1, x + from * 4 * d * xs, xs, d, nIn, nState, y + from * 4 * d * xs, count, per, scratch, h));
  } else if (c[${KIND}] === ${RESBLOCK}) {
    const [w3, b3, w1, b1, x, xs, d, nIn, nState, y, scratch, rows] = a;
    takeBlocks(sync, seen & ${TAG_MASK}, rows, c[${BLOCK}], (from, count) =>
      k.resblock(w3, b3, w1, b1, x + from * xs, xs, d, nIn, nState, y + from * xs, scratch, count));
  } else if (c[${KIND}] === ${WINOGRAD}) {
    const [v, zero, b, x, xs, d, nIn, y, ys, panels, groups, per, scratch, fin, fout] = a;
    takeBlocks(sync, seen & ${TAG_MASK}, groups, c[${BLOCK}], (from, count) =>
      k.winograd(v, zero, b, x + from * 4 * d * xs, xs, d, nIn, y + from * 4 * d * ys, ys, panels, count, per, scratch, floor(fin), floor(fout)));
  } else {
    const [w, b, z, zStride, width, bins, rows, scores, codes] = a;
    takeBlocks(sync, seen & ${TAG_MASK}, rows, c[${BLOCK}], (from, count) =>
      quantiseRows(k, w, b, z + from * zStride, zStride, width, bins, count, scores, codes + from * 4));
  }`)}
`;

/**
 * Threads of the fast VQ-VAE path, the calling one included: `JUKEBOX_VQVAE_THREADS`, else the
 * machine's cores (at most 8: the convolutions of one chunk have too few rows to share further),
 * and one inside a worker thread (a `VQVAEWorkerPool` already spreads its chunks over the cores).
 */
export function vqvaeThreads(): number {
  const env = process.env.JUKEBOX_VQVAE_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    return Number.isInteger(n) && n >= 1 ? n : 1;
  }
  return isMainThread ? Math.max(1, Math.min(8, os.cpus().length)) : 1;
}

export class ConvThreads {
  private readonly workers: Worker[];
  private readonly control: Int32Array;
  /** The shared words of a job (NEXT, FINISHED). */
  private readonly sync: Int32Array;
  private seq = 0;

  /** Starts `count` workers over `memory` and waits until they are ready. */
  constructor(module: WebAssembly.Module, memory: WasmMemory, readonly count: number) {
    this.control = new Int32Array(new SharedArrayBuffer((count + 1) * SLOTS * 4));
    this.sync = this.control.subarray(0, SLOTS);
    this.workers = startWorkers(WORKER_SOURCE, count, (slot) => ({ module, memory, control: this.control.buffer, slot }),
      this.control, (slot) => (slot + 1) * SLOTS + READY, 'fast VQ-VAE: a worker thread did not start');
  }

  /**
   * The `conv` kernel's call (arguments as its own, `rows` rows) shared by blocks of `block` rows
   * between this thread and the workers; returns when every row is done.
   */
  conv(k: ConvKernels, w: number, b: number, x: number, xs: number, xd: number, taps: number, nIn: number, y: number, ys: number,
    panels: number, rows: number, outFloor: number, res: number, block: number): void {
    const tag = this.post(CONV, block, () => [w, b, x, xs, xd, taps, nIn, y, ys, panels, rows, outFloor === 0 ? 0 : 1, res]);
    takeBlocks(this.sync, tag, rows, block, (from, count) =>
      k.conv(w, b, x + from * xs, xs, xd, taps, nIn, y + from * ys, ys, panels, count, outFloor, res));
    this.wait(Math.ceil(rows / block));
  }

  /**
   * The `winograd` kernel's call (arguments as its own, `groups` groups of 4·d output rows) shared
   * by blocks of `block` groups; `scratch[0]` is this thread's scratch, `scratch[1 + i]` worker i's.
   */
  winograd(k: ConvKernels, v: number, zero: number, b: number, x: number, xs: number, d: number, nIn: number, y: number, ys: number,
    panels: number, groups: number, per: number, scratch: number[], inFloor: number, outFloor: number, block: number): void {
    const tag = this.post(WINOGRAD, block, (worker) =>
      [v, zero, b, x, xs, d, nIn, y, ys, panels, groups, per, scratch[1 + worker], inFloor === 0 ? 0 : 1, outFloor === 0 ? 0 : 1]);
    takeBlocks(this.sync, tag, groups, block, (from, count) =>
      k.winograd(v, zero, b, x + from * 4 * d * xs, xs, d, nIn, y + from * 4 * d * ys, ys, panels, count, per, scratch[0], inFloor, outFloor));
    this.wait(Math.ceil(groups / block));
  }

  /**
   * The `wresblock` kernel's call (arguments as its own, `groups` groups of 4·d rows) shared by
   * blocks of `block` groups; `scratch[0]` and `h[0]` are this thread's, `scratch[1 + i]` and
   * `h[1 + i]` worker i's.
   */
  wresblock(k: ConvKernels, v: number, zero: number, b3: number, w1: number, b1: number, x: number, xs: number, d: number,
    nIn: number, nState: number, y: number, groups: number, per: number, scratch: number[], h: number[], block: number): void {
    const tag = this.post(WRESBLOCK, block, (worker) => [v, zero, b3, w1, b1, x, xs, d, nIn, nState, y, groups, per, scratch[1 + worker], h[1 + worker]]);
    takeBlocks(this.sync, tag, groups, block, (from, count) =>
      k.wresblock(v, zero, b3, w1, b1, x + from * 4 * d * xs, xs, d, nIn, nState, y + from * 4 * d * xs, count, per, scratch[0], h[0]));
    this.wait(Math.ceil(groups / block));
  }

  /**
   * The `resblock` kernel's call (arguments as its own, `rows` rows) shared by blocks of `block`
   * rows; `scratch[0]` is this thread's scratch, `scratch[1 + i]` worker i's.
   */
  resblock(k: ConvKernels, w3: number, b3: number, w1: number, b1: number, x: number, xs: number, d: number, nIn: number,
    nState: number, y: number, scratch: number[], rows: number, block: number): void {
    const tag = this.post(RESBLOCK, block, (worker) => [w3, b3, w1, b1, x, xs, d, nIn, nState, y, scratch[1 + worker], rows]);
    takeBlocks(this.sync, tag, rows, block, (from, count) =>
      k.resblock(w3, b3, w1, b1, x + from * xs, xs, d, nIn, nState, y + from * xs, scratch[0], count));
    this.wait(Math.ceil(rows / block));
  }

  /**
   * `quantiseRows` over `rows` latents shared by blocks of `block` rows (a multiple of SCORE_ROWS);
   * `scores[0]` is this thread's score buffer, `scores[1 + i]` worker i's.
   */
  quantise(k: ConvKernels, w: number, b: number, z: number, zStride: number, width: number, bins: number, rows: number,
    scores: number[], codes: number, block: number): void {
    const tag = this.post(QUANTISE, block, (worker) => [w, b, z, zStride, width, bins, rows, scores[1 + worker], codes]);
    takeBlocks(this.sync, tag, rows, block, (from, count) =>
      quantiseRows(k, w, b, z + from * zStride, zStride, width, bins, count, scores[0], codes + from * 4));
    this.wait(Math.ceil(rows / block));
  }

  /** Opens a job (its tag, block 0, none finished), posts it to every worker and returns its tag. */
  private post(kind: number, block: number, args: (worker: number) => number[]): number {
    const c = this.control;
    this.seq = (this.seq + 1) | 0;
    const tag = this.seq & TAG_MASK;
    Atomics.store(this.sync, FINISHED, 0);
    Atomics.store(this.sync, NEXT, tag << TAG_SHIFT);
    for (let i = 0; i < this.count; i++) {
      const at = (i + 1) * SLOTS;
      c[at + KIND] = kind;
      c[at + BLOCK] = block;
      c.set(args(i), at + ARGS);
      Atomics.store(c, at + SEQ, this.seq);
      Atomics.notify(c, at + SEQ);
    }
    return tag;
  }

  /**
   * Waits until all `blocks` of the job are finished: by whoever took them. A worker that has not
   * woken up yet is not waited for (it will find no block left).
   */
  private wait(blocks: number): void {
    let spins = 0;
    for (let done = Atomics.load(this.sync, FINISHED); done < blocks; done = Atomics.load(this.sync, FINISHED)) {
      // Sleeping on the value seen cannot miss the last store: a changed value returns at once.
      if (++spins > SPINS) {
        Atomics.wait(this.sync, FINISHED, done);
        spins = 0;
      }
    }
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}
