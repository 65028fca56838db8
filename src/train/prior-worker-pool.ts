import * as path from 'path';
import { Prior } from '../prior/prior';
import type { PriorWorkerReply, PriorWorkerRequest } from './prior-worker-main';
import type { PriorBatch, PriorMicroBatchResult, PriorMicroBatchRunner } from './prior-trainer';
import { WorkerPool } from './worker-pool';

/**
 * Worker threads that each hold a copy of a prior and compute training micro-batches
 * (`PriorTrainer.runner`). Each computes exactly what `priorMicroBatch` computes on the main
 * thread, and the trainer sums the results in micro-batch order, so a run's numbers do not
 * depend on the number of workers.
 */
export class PriorWorkerPool implements PriorMicroBatchRunner {
  private constructor(private readonly pool: WorkerPool<PriorWorkerRequest, PriorWorkerReply>) {}

  get size(): number {
    return this.pool.size;
  }

  static async start(prior: Prior, size: number): Promise<PriorWorkerPool> {
    const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const name of prior.spec.keys()) {
      const t = prior.weights.get(name);
      weights[name] = { shape: t.shape, data: (await t.data()) as Float32Array };
    }
    const pool = new WorkerPool<PriorWorkerRequest, PriorWorkerReply>(path.join(__dirname, 'prior-worker.js'), Math.max(1, Math.floor(size)));
    try {
      await pool.all({ type: 'init', config: prior.config, weights });
    } catch (err) {
      await pool.close();
      throw err;
    }
    return new PriorWorkerPool(pool);
  }

  async setWeights(prior: Prior): Promise<void> {
    const weights: Record<string, Float32Array> = {};
    for (const name of prior.spec.keys()) weights[name] = (await prior.weights.get(name).data()) as Float32Array;
    await this.pool.all({ type: 'set-weights', weights });
  }

  async microBatch(slot: number, batch: PriorBatch): Promise<PriorMicroBatchResult> {
    const reply = await this.pool.request(slot, { type: 'micro-batch', batch });
    return (reply as Extract<PriorWorkerReply, { type: 'trained' }>).result;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
