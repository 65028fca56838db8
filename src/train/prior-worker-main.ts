import { initBackend } from '../backend';
import { PriorConfig } from '../prior/config';
import { Prior } from '../prior/prior';
import type { AlignLossSettings } from './align-loss';
import { PriorBatch, PriorBatchScore, priorBatchScore, priorMicroBatch, PriorMicroBatchResult } from './prior-trainer';
import { serveWorkerRequests, setWorkerWeights, weightMapFromWorkerInit } from './worker-pool';

/**
 * The body of a prior training worker (see `PriorWorkerPool`): its own copy of the prior on its
 * own tfjs backend, computing micro-batches' losses and gradients, and held-out batches' scores.
 * The optimiser and the data stay on the main thread.
 */
export type PriorWorkerRequest =
  | { type: 'init'; config: PriorConfig; weights: Record<string, { shape: number[]; data: Float32Array }> }
  | { type: 'set-weights'; weights: Record<string, Float32Array> }
  | { type: 'micro-batch'; batch: PriorBatch; alignLoss?: AlignLossSettings }
  | { type: 'score'; batch: PriorBatch; align?: AlignLossSettings };

export type PriorWorkerReply =
  | { type: 'done'; id: number }
  | { type: 'trained'; id: number; result: PriorMicroBatchResult }
  | { type: 'scored'; id: number; result: PriorBatchScore };

let prior: Prior | undefined;

async function handle(request: PriorWorkerRequest & { id: number }): Promise<{ reply: PriorWorkerReply; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'init': {
      await initBackend();
      const weights = weightMapFromWorkerInit(request.weights);
      prior = new Prior(request.config, weights);
      return { reply: { type: 'done', id: request.id }, transfer: [] };
    }
    case 'set-weights': {
      setWorkerWeights(prior!.weights, request.weights);
      return { reply: { type: 'done', id: request.id }, transfer: [] };
    }
    case 'micro-batch': {
      const result = priorMicroBatch(prior!, request.batch, request.alignLoss);
      return { reply: { type: 'trained', id: request.id, result }, transfer: Object.values(result.grads).map((g) => g.buffer as ArrayBuffer) };
    }
    case 'score':
      return { reply: { type: 'scored', id: request.id, result: priorBatchScore(prior!, request.batch, request.align) }, transfer: [] };
  }
}

serveWorkerRequests(handle);
