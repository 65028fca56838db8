import * as tf from '@tensorflow/tfjs';
import { parentPort, Worker } from 'worker_threads';
import { JukeboxError } from '../errors';
import { ParameterSpec, WeightMap } from '../vqvae/weights';
import { hostData } from './fast/grad-kernels';

/** The tensors a model declares, as plain data a worker can rebuild them from (its `init` message). */
export async function weightsForWorkers(spec: ParameterSpec, weights: WeightMap): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const name of spec.keys()) {
    const t = weights.get(name);
    out[name] = { shape: t.shape, data: (await t.data()) as Float32Array };
  }
  return out;
}

/** The current values of a model's tensors, for workers that already hold its shapes (`set-weights`). */
export async function weightValues(spec: ParameterSpec, weights: WeightMap): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const name of spec.keys()) out[name] = (await weights.get(name).data()) as Float32Array;
  return out;
}

/**
 * A model's weights in one SharedArrayBuffer, as the views a `set-weights` message carries: a
 * typed array on shared memory goes to every worker without a copy, so a step's weights are
 * copied once out of the heap, where `weightValues` reads each tensor into a new array that
 * postMessage then clones once per worker (12 MB each for a 3M-parameter prior, on the main
 * thread while the workers wait). Workers read the views only while they handle the message, and
 * the next step writes them only after every worker has replied.
 */
export class SharedWeightValues {
  private readonly views: Record<string, Float32Array> = {};

  constructor(spec: ParameterSpec, weights: WeightMap) {
    const names = [...spec.keys()];
    const buffer = new SharedArrayBuffer(names.reduce((n, name) => n + weights.get(name).size, 0) * 4);
    let at = 0;
    for (const name of names) {
      const size = weights.get(name).size;
      this.views[name] = new Float32Array(buffer, at * 4, size);
      at += size;
    }
  }

  /** The views, now holding `weights`' current values. */
  current(weights: WeightMap): Record<string, Float32Array> {
    for (const [name, view] of Object.entries(this.views)) view.set(hostData(weights.get(name)));
    return this.views;
  }
}

/**
 * Worker threads for using more than one core: tfjs's wasm backend runs one thread per isolate
 * (its threaded build cannot start workers in Node), so parallel work needs parallel isolates.
 * Each worker runs `script` and answers every request `{ id, ... }` with one reply carrying the
 * same id, or `{ type: 'error', id, message }`. The VQ-VAE's and the priors' pools are built on it.
 */
export class WorkerPool<Request extends { type: string }, Reply extends { type: string; id: number }> {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  /**
   * Starts `size` workers (at least one) running `script` and sends each of them `init`; if any
   * worker fails to initialise, the pool is closed and the error rethrown.
   */
  static async startInitialised<Q extends { type: string }, R extends { type: string; id: number }>(script: string, size: number, init: Q): Promise<WorkerPool<Q, R>> {
    const pool = new WorkerPool<Q, R>(script, Math.max(1, Math.floor(size)));
    try {
      await pool.all(init);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Starts `size` workers running `script` (the caller then initialises them with requests). */
  constructor(script: string, readonly size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script, { env: process.env });
      worker.on('message', (reply: Reply | { type: 'error'; id: number; message: string }) => this.settle(reply));
      worker.on('error', (err) => this.fail(err));
      this.workers.push(worker);
    }
  }

  private settle(reply: Reply | { type: 'error'; id: number; message: string }): void {
    const job = this.pending.get(reply.id);
    if (job === undefined) return;
    this.pending.delete(reply.id);
    if (reply.type === 'error') job.reject(new JukeboxError(`worker: ${(reply as { message: string }).message}`));
    else job.resolve(reply as Reply);
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  /** Sends `message` to worker `worker` (modulo the pool size); `transfer` moves those buffers. */
  request(worker: number, message: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker % this.size].postMessage({ ...message, id }, transfer);
    });
  }

  /** The same request to every worker, answered when all have replied. */
  all(message: Request): Promise<Reply[]> {
    return Promise.all(this.workers.map((_w, i) => this.request(i, message)));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}

/** Inside a worker: the WeightMap an `init` message's weights describe. */
export function weightMapFromWorkerInit(weights: Record<string, { shape: number[]; data: Float32Array }>): WeightMap {
  const map = new WeightMap();
  for (const [name, t] of Object.entries(weights)) map.set(name, tf.tensor(t.data, t.shape, 'float32'));
  return map;
}

/** Inside a worker: replaces every tensor a `set-weights` message carries, keeping its shape. */
export function setWorkerWeights(map: WeightMap, weights: Record<string, Float32Array>): void {
  for (const [name, data] of Object.entries(weights)) map.set(name, tf.tensor(data, map.get(name).shape, 'float32'));
}

/**
 * Inside a worker: answers every request with `handle`'s reply (its `transfer` buffers moved),
 * or with `{ type: 'error', id, message }`, the protocol `WorkerPool` expects.
 */
export function serveWorkerRequests<Q extends { id: number }, R>(handle: (request: Q) => Promise<{ reply: R; transfer: ArrayBuffer[] }>): void {
  parentPort!.on('message', (request: Q) => {
    handle(request).then(
      ({ reply, transfer }) => parentPort!.postMessage(reply, transfer),
      (err: Error) => parentPort!.postMessage({ type: 'error', id: request.id, message: err.message }),
    );
  });
}
