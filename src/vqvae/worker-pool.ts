import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { JukeboxError } from '../errors';
import { VQVAE } from './vqvae';
import type { Bandwidth } from './losses';
import type { MicroBatchResult, TrainConfig } from './trainer';
import type { WorkerReply, WorkerRequest } from './worker-main';

/**
 * Worker threads that each hold a copy of a VQ-VAE, for using more than one core: tfjs's wasm
 * backend runs one thread per isolate (its threaded build cannot start workers in Node), so
 * parallel work needs parallel isolates. Every worker computes exactly what the main thread
 * would, so results do not depend on the number of workers.
 */
export class VQVAEWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  private constructor(readonly size: number) {}

  /** Starts `size` workers (default: the number of cores) with copies of `model`'s weights. */
  static async start(model: VQVAE, size = os.cpus().length): Promise<VQVAEWorkerPool> {
    const pool = new VQVAEWorkerPool(Math.max(1, Math.floor(size)));
    const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const name of model.spec.keys()) {
      const t = model.weights.get(name);
      weights[name] = { shape: t.shape, data: (await t.data()) as Float32Array };
    }
    try {
      await pool.spawn(model.config, weights);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Starts the workers and waits until each has built its model. */
  private async spawn(config: VQVAE['config'], weights: Record<string, { shape: number[]; data: Float32Array }>): Promise<void> {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(path.join(__dirname, 'worker.js'), { env: process.env });
      worker.on('message', (reply: WorkerReply) => this.settle(reply));
      worker.on('error', (err) => this.fail(err));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((_w, i) => this.request(i, { type: 'init', id: this.nextId++, config, weights }, [])));
  }

  private settle(reply: WorkerReply): void {
    const job = this.pending.get(reply.id);
    if (job === undefined) return;
    this.pending.delete(reply.id);
    if (reply.type === 'error') job.reject(new JukeboxError(`worker: ${reply.message}`));
    else job.resolve(reply);
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  private request(worker: number, message: WorkerRequest & { id: number }, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      this.workers[worker % this.size].postMessage(message, transfer);
    });
  }

  /** Encodes one window of audio on worker `worker` (the array is moved to the worker). */
  async encode(worker: number, audio: Float32Array, levels: number[]): Promise<Int32Array[]> {
    const reply = await this.request(worker, { type: 'encode', id: this.nextId++, audio, levels }, [audio.buffer as ArrayBuffer]);
    return (reply as Extract<WorkerReply, { type: 'encoded' }>).codes;
  }

  /** Decodes one window of codes on worker `worker`. */
  async decode(worker: number, codes: Int32Array, level: number): Promise<Float32Array> {
    const reply = await this.request(worker, { type: 'decode', id: this.nextId++, codes: codes.slice(), level }, []);
    return (reply as Extract<WorkerReply, { type: 'decoded' }>).audio;
  }

  /**
   * Prepares every worker to compute training gradients (`VQVAETrainer.pool`): the data's
   * bandwidth and the loss settings must be the main trainer's.
   */
  async startTraining(bandwidth: Bandwidth, train: TrainConfig): Promise<void> {
    await Promise.all(this.workers.map((_w, i) => this.request(i, { type: 'train-init', id: this.nextId++, bandwidth, train }, [])));
  }

  /** Sends the model's current weights (all of them, codebooks included) to every worker. */
  async setWeights(model: VQVAE): Promise<void> {
    const weights: Record<string, Float32Array> = {};
    for (const name of model.spec.keys()) weights[name] = (await model.weights.get(name).data()) as Float32Array;
    await Promise.all(this.workers.map((_w, i) => this.request(i, { type: 'set-weights', id: this.nextId++, weights }, [])));
  }

  /** One micro-batch's gradients (`VQVAETrainer.microBatchGradients`) on worker `worker`. */
  async microBatch(worker: number, x: Float32Array, items: number, length: number): Promise<MicroBatchResult> {
    const reply = await this.request(worker, { type: 'micro-batch', id: this.nextId++, x, items, length }, [x.buffer as ArrayBuffer]);
    return (reply as Extract<WorkerReply, { type: 'trained' }>).result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
