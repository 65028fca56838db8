import { Worker } from 'worker_threads';
import type { WasmMemory } from './wasm-api';

/**
 * Worker threads that take a share of each large matrix product of the fast sampling path. tfjs's
 * threaded wasm build cannot start its workers in Node (FACTS.md), so the second core is used
 * here directly: every arena's memory is a shared WebAssembly memory, each worker instantiates the
 * same kernels over the same memories, and a product is split by output panels: the main thread
 * computes the first panels, each worker the next ones. A panel's outputs are computed the same
 * way whoever computes them, so results do not depend on the number of threads.
 *
 * A product is a few to a few hundred microseconds, far too short for messages: jobs are posted
 * through a small shared Int32Array and `Atomics`. Waiting threads spin a little before sleeping
 * in `Atomics.wait`, because a token step posts its products back to back and waking a sleeping
 * thread costs tens of microseconds.
 */

/** Int32 slots per worker in the control array. */
const SLOTS = 16;
/** Slot indices: job sequence number (posted), done sequence number, then the matmul arguments. */
const SEQ = 0;
const DONE = 1;
const ARENA = 2;
const ARGS = 3;
const READY = 15;
/** Polls of a shared word before sleeping on it (about 0.1 ms). */
const SPINS = 20000;

/** How long a worker may take to start before the fast path goes on without workers. */
const START_TIMEOUT_MS = 10000;

/**
 * The end of a worker's source, over its control slots `c`: flags the worker ready in slot
 * `ready`, then forever waits for slot `seq` to move past the last job's sequence number `seen`
 * (polling `spins` times before sleeping on it), sets `seen` and runs `job` (the loop's body, source
 * of lines indented by two spaces, starting with a line break).
 */
export function workerJobLoop(ready: number, seq: number, spins: number, job: string): string {
  return `Atomics.store(c, ${ready}, 1);
Atomics.notify(c, ${ready});
let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(c, ${seq}) === seen) {
    if (++spins > ${spins}) {
      Atomics.wait(c, ${seq}, seen);
      spins = 0;
    }
  }
  seen = Atomics.load(c, ${seq});${job}
}`;
}

/**
 * Starts `count` workers running `source` (worker `slot` gets `data(slot)` as its workerData) and
 * waits until each has set its ready word `control[readyAt(slot)]`; if one takes longer than
 * START_TIMEOUT_MS, stops them all and throws `failure`. The workers are unref'd: the fast paths
 * never wait on the event loop for them, and they must not keep a process alive.
 */
export function startWorkers(source: string, count: number, data: (slot: number) => unknown, control: Int32Array,
  readyAt: (slot: number) => number, failure: string): Worker[] {
  const workers: Worker[] = [];
  for (let slot = 0; slot < count; slot++) {
    const worker = new Worker(source, { eval: true, workerData: data(slot) });
    worker.unref();
    workers.push(worker);
  }
  for (let slot = 0; slot < count; slot++) {
    if (Atomics.wait(control, readyAt(slot), 0, START_TIMEOUT_MS) === 'timed-out') {
      for (const w of workers) void w.terminate();
      throw new Error(failure);
    }
  }
  return workers;
}

/** The worker: instantiates the kernels over every arena's memory, then runs matmul jobs forever. */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads');
const { module, memories, control, slot } = workerData;
const c = new Int32Array(control, slot * ${SLOTS} * 4, ${SLOTS});
const kernels = memories.map((memory) => new WebAssembly.Instance(module, { env: { memory } }).exports);
${workerJobLoop(READY, SEQ, SPINS, `
  const a = ${ARGS};
  kernels[c[${ARENA}]].matmul(c[a], c[a + 1], c[a + 2], c[a + 3], c[a + 4], c[a + 5], c[a + 6], c[a + 7], c[a + 8]);
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});`)}
`;

/**
 * Threads of the fast path, the calling one included: `JUKEBOX_SAMPLING_THREADS` (default 1, no
 * workers). Workers are opt-in because on this project's shared 2-core machines they lost more
 * than they gained: with other processes running, the two threads rarely run at once, so each
 * hand-off waits for a scheduler slice. Measured there (load average 2-4): a 1024 × 4096 product
 * 450 µs on one thread against 720-790 µs split over two (once, at another moment, 421 against
 * 222), and the medium prior at 3 samples 6,340-6,400 tokens/s on one thread against 5,000-5,400
 * on two. Batching the samples through each product is what uses the hardware there.
 */
export function samplingThreads(): number {
  const env = process.env.JUKEBOX_SAMPLING_THREADS;
  const n = env !== undefined && env !== '' ? Number(env) : 1;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

export class MatmulPool {
  private readonly workers: Worker[];
  private readonly control: Int32Array;
  private seq = 0;
  /** Workers given a share by the last `post`. */
  private posted = 0;

  /** Starts `count` workers over `memories` (arena i is memory i) and waits until they are ready. */
  constructor(module: WebAssembly.Module, memories: WasmMemory[], readonly count: number) {
    this.control = new Int32Array(new SharedArrayBuffer(count * SLOTS * 4));
    this.workers = startWorkers(WORKER_SOURCE, count, (slot) => ({ module, memories, control: this.control.buffer, slot }),
      this.control, (slot) => slot * SLOTS + READY, 'fast sampling: a worker thread did not start');
  }

  /**
   * Posts to the workers their shares of a product over `panels` panels of arena `arena`
   * (arguments as the `matmul` kernel's) and returns the panels left to the caller: the first
   * ones, which it computes before calling `wait`.
   */
  post(arena: number, w: number, b: number, x: number, xs: number, y: number, ys: number, nIn: number, panels: number, m: number): number {
    const share = Math.ceil(panels / (this.count + 1));
    const c = this.control;
    this.seq = (this.seq + 1) | 0;
    this.posted = 0;
    for (let i = 0; i < this.count; i++) {
      const from = share * (i + 1);
      const count = Math.min(share, panels - from);
      if (count <= 0) break;
      const at = i * SLOTS;
      c[at + ARENA] = arena;
      c.set([w + from * nIn * 64, b + from * 64, x, xs, y + from * 64, ys, nIn, count, m], at + ARGS);
      Atomics.store(c, at + SEQ, this.seq);
      Atomics.notify(c, at + SEQ);
      this.posted++;
    }
    return Math.min(share, panels);
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
