import * as os from 'os';
import { isMainThread, Worker } from 'worker_threads';
import type { WasmMemory } from '../../prior/fast/wasm-api';

/**
 * Worker threads that take a share of the rows of every convolution of the fast VQ-VAE path. tfjs's
 * threaded wasm build cannot start its workers in Node (FACTS.md), so the other cores are used here
 * directly: the arena's memory is a shared WebAssembly memory, each worker instantiates the same
 * kernels over it, and a convolution's output rows are split between the calling thread and the
 * workers. Weights and activations live once in that memory, so a thread costs no model copy (a
 * worker pool of whole models costs one each), and a row is computed the same way whoever computes
 * it, so results do not depend on the number of threads.
 *
 * Jobs are posted through a small shared Int32Array and `Atomics`, one convolution (a few to a few
 * hundred milliseconds) at a time.
 */

/** Int32 slots per worker in the control array. */
const SLOTS = 24;
/** Slot indices: job sequence number (posted), done sequence number, ready flag, job kind, arguments. */
const SEQ = 0;
const DONE = 1;
const READY = 2;
const KIND = 3;
const ARGS = 4;
/** Job kinds. */
const CONV = 0;
const QUANTISE = 1;
/** Polls of a shared word before sleeping on it (about 0.1 ms). */
const SPINS = 20000;
/** How long a worker may take to start before the fast path goes on without workers. */
const START_TIMEOUT_MS = 10000;
/** Latents per codebook-score block of a quantise job (see conv-runner.ts). */
export const SCORE_ROWS = 32;

/**
 * The worker: instantiates the kernels over the arena's memory, then runs jobs forever. A conv job
 * carries the `conv` kernel's arguments (the floors as 0 = ReLU, 1 = none); a quantise job scores
 * its latents against the codebook in blocks of SCORE_ROWS and takes each row's best code.
 */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { module, memory, control, slot } = workerData;
const c = new Int32Array(control, slot * ${SLOTS} * 4, ${SLOTS});
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
const floor = (v) => (v === 0 ? 0 : -Infinity);
Atomics.store(c, ${READY}, 1);
Atomics.notify(c, ${READY});
let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(c, ${SEQ}) === seen) {
    if (++spins > ${SPINS}) {
      Atomics.wait(c, ${SEQ}, seen);
      spins = 0;
    }
  }
  seen = Atomics.load(c, ${SEQ});
  const a = ${ARGS};
  if (c[${KIND}] === ${CONV}) {
    k.conv(c[a], c[a + 1], c[a + 2], c[a + 3], c[a + 4], c[a + 5], c[a + 6], c[a + 7], c[a + 8], c[a + 9], c[a + 10],
      floor(c[a + 11]), floor(c[a + 12]), c[a + 13]);
  } else {
    const [w, b, z, zStride, width, bins, rows, scores, codes] = c.subarray(a, a + 9);
    for (let start = 0; start < rows; start += ${SCORE_ROWS}) {
      const n = Math.min(${SCORE_ROWS}, rows - start);
      k.conv(w, b, z + start * zStride, zStride, 0, 1, width, scores, bins * 4, bins / 8, n, -Infinity, -Infinity, 0);
      k.argmax(scores, bins * 4, bins, n, codes + start * 4);
    }
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
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
  private readonly workers: Worker[] = [];
  private readonly control: Int32Array;
  private seq = 0;
  /** Workers given a share by the last `post`. */
  private posted = 0;

  /** Starts `count` workers over `memory` and waits until they are ready. */
  constructor(module: WebAssembly.Module, memory: WasmMemory, readonly count: number) {
    this.control = new Int32Array(new SharedArrayBuffer(count * SLOTS * 4));
    for (let slot = 0; slot < count; slot++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control: this.control.buffer, slot } });
      // The fast path never waits on the event loop for them, and they must not keep a process alive.
      worker.unref();
      this.workers.push(worker);
    }
    for (let slot = 0; slot < count; slot++) {
      if (Atomics.wait(this.control, slot * SLOTS + READY, 0, START_TIMEOUT_MS) === 'timed-out') {
        this.close();
        throw new Error('fast VQ-VAE: a worker thread did not start');
      }
    }
  }

  /**
   * Posts to the workers their shares of `rows` rows: `args(from, count, worker)` gives the job's
   * arguments for rows [from, from + count) on worker `worker`. Returns the rows left to the caller, the first ones,
   * which it computes before calling `wait`.
   */
  post(kind: 'conv' | 'quantise', rows: number, args: (from: number, count: number, worker: number) => number[]): number {
    const share = Math.ceil(rows / (this.count + 1));
    const c = this.control;
    this.seq = (this.seq + 1) | 0;
    this.posted = 0;
    for (let i = 0; i < this.count; i++) {
      const from = share * (i + 1);
      const count = Math.min(share, rows - from);
      if (count <= 0) break;
      const at = i * SLOTS;
      c[at + KIND] = kind === 'conv' ? CONV : QUANTISE;
      c.set(args(from, count, i), at + ARGS);
      Atomics.store(c, at + SEQ, this.seq);
      Atomics.notify(c, at + SEQ);
      this.posted++;
    }
    return Math.min(share, rows);
  }

  /** Waits until the workers have finished what `post` gave them. */
  wait(): void {
    const c = this.control;
    for (let i = 0; i < this.posted; i++) {
      const at = i * SLOTS + DONE;
      let spins = 0;
      for (let done = Atomics.load(c, at); done !== this.seq; done = Atomics.load(c, at)) {
        // Sleeping on the value seen cannot miss the store: a changed value returns at once.
        if (++spins > SPINS) {
          Atomics.wait(c, at, done);
          spins = 0;
        }
      }
    }
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}
