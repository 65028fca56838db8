import * as path from 'path';
import { Prior } from '../prior/prior';
import type { AlignLossSettings } from './align-loss';
import type { PriorWorkerReply, PriorWorkerRequest } from './prior-worker-main';
import type { PriorBatch, PriorBatchScore, PriorMicroBatchResult, PriorMicroBatchRunner } from './prior-trainer';
import { SharedWeightValues, weightsForWorkers, WorkerPool } from './worker-pool';

/**
 * Worker threads that each hold a copy of a prior and compute training micro-batches
 * (`PriorTrainer.runner`) and the held-out batches a save scores. Each computes what
 * `priorMicroBatch` (`priorBatchScore`) computes on the main thread, and the results are summed
 * in batch order, so a run's numbers do not depend on the number of workers.
 */
export class PriorWorkerPool implements PriorMicroBatchRunner {
  private constructor(private readonly pool: WorkerPool<PriorWorkerRequest, PriorWorkerReply>, private readonly shared: SharedWeightValues) {}

  get size(): number {
    return this.pool.size;
  }

  static async start(prior: Prior, size: number): Promise<PriorWorkerPool> {
    const weights = await weightsForWorkers(prior.spec, prior.weights);
    const pool = await WorkerPool.startInitialised<PriorWorkerRequest, PriorWorkerReply>(path.join(__dirname, 'prior-worker.js'), size, { type: 'init', config: prior.config, weights });
    return new PriorWorkerPool(pool, new SharedWeightValues(prior.spec, prior.weights));
  }

  async setWeights(prior: Prior): Promise<void> {
    await this.pool.all({ type: 'set-weights', weights: this.shared.current(prior.weights) });
  }

  async microBatch(slot: number, batch: PriorBatch, alignLoss?: AlignLossSettings): Promise<PriorMicroBatchResult> {
    const reply = await this.pool.request(slot, { type: 'micro-batch', batch, alignLoss });
    return (reply as Extract<PriorWorkerReply, { type: 'trained' }>).result;
  }

  async score(slot: number, batch: PriorBatch, align?: AlignLossSettings): Promise<PriorBatchScore> {
    const reply = await this.pool.request(slot, { type: 'score', batch, align });
    return (reply as Extract<PriorWorkerReply, { type: 'scored' }>).result;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
