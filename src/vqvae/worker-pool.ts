import * as os from 'os';
import * as path from 'path';
import { weightsForWorkers, weightValues, WorkerPool } from '../train/worker-pool';
import { VQVAE } from './vqvae';
import type { Bandwidth } from './losses';
import type { MicroBatchResult, TrainConfig } from './trainer';
import type { WorkerReply, WorkerRequest } from './worker-main';

/**
 * Worker threads that each hold a copy of a VQ-VAE (see `WorkerPool`): they encode, decode and
 * compute training micro-batches. Every worker computes exactly what the main thread would, so
 * results do not depend on the number of workers.
 */
export class VQVAEWorkerPool {
  private constructor(private readonly pool: WorkerPool<WorkerRequest, WorkerReply>) {}

  get size(): number {
    return this.pool.size;
  }

  /** Starts `size` workers (default: the number of cores) with copies of `model`'s weights. */
  static async start(model: VQVAE, size = os.cpus().length): Promise<VQVAEWorkerPool> {
    const weights = await weightsForWorkers(model.spec, model.weights);
    const pool = await WorkerPool.startInitialised<WorkerRequest, WorkerReply>(path.join(__dirname, 'worker.js'), size, { type: 'init', config: model.config, weights });
    return new VQVAEWorkerPool(pool);
  }

  /** Encodes one window of audio on worker `worker` (the array is moved to the worker). */
  async encode(worker: number, audio: Float32Array, levels: number[]): Promise<Int32Array[]> {
    const reply = await this.pool.request(worker, { type: 'encode', audio, levels }, [audio.buffer as ArrayBuffer]);
    return (reply as Extract<WorkerReply, { type: 'encoded' }>).codes;
  }

  /** Decodes one window of codes on worker `worker`. */
  async decode(worker: number, codes: Int32Array, level: number): Promise<Float32Array> {
    const reply = await this.pool.request(worker, { type: 'decode', codes: codes.slice(), level });
    return (reply as Extract<WorkerReply, { type: 'decoded' }>).audio;
  }

  /**
   * Prepares every worker to compute training gradients (`VQVAETrainer.pool`): the data's
   * bandwidth and the loss settings must be the main trainer's.
   */
  async startTraining(bandwidth: Bandwidth, train: TrainConfig): Promise<void> {
    await this.pool.all({ type: 'train-init', bandwidth, train });
  }

  /** Sends the model's current weights (all of them, codebooks included) to every worker. */
  async setWeights(model: VQVAE): Promise<void> {
    await this.pool.all({ type: 'set-weights', weights: await weightValues(model.spec, model.weights) });
  }

  /** One micro-batch's gradients (`VQVAETrainer.microBatchGradients`) on worker `worker`. */
  async microBatch(worker: number, x: Float32Array, items: number, length: number): Promise<MicroBatchResult> {
    const reply = await this.pool.request(worker, { type: 'micro-batch', x, items, length }, [x.buffer as ArrayBuffer]);
    return (reply as Extract<WorkerReply, { type: 'trained' }>).result;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
