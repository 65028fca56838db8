import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { VQVAEConfig } from './config';
import { Rng } from '../rng';
import { Bandwidth } from './losses';
import { MicroBatchResult, TrainConfig, VQVAETrainer } from './trainer';
import { VQVAE } from './vqvae';
import { serveWorkerRequests, setWorkerWeights, weightMapFromWorkerInit } from '../train/worker-pool';

/**
 * The body of a VQ-VAE worker thread (see `VQVAEWorkerPool`): it builds its own copy of the model
 * on its own tfjs backend, then encodes audio windows and decodes code windows on request.
 */
export type WorkerRequest =
  | { type: 'init'; config: VQVAEConfig; weights: Record<string, { shape: number[]; data: Float32Array }> }
  | { type: 'train-init'; bandwidth: Bandwidth; train: TrainConfig }
  | { type: 'set-weights'; weights: Record<string, Float32Array> }
  | { type: 'micro-batch'; x: Float32Array; items: number; length: number }
  | { type: 'encode'; audio: Float32Array; levels: number[] }
  | { type: 'decode'; codes: Int32Array; level: number };

export type WorkerReply =
  | { type: 'encoded'; id: number; codes: Int32Array[] }
  | { type: 'decoded'; id: number; audio: Float32Array }
  | { type: 'trained'; id: number; result: MicroBatchResult }
  | { type: 'done'; id: number }
  | { type: 'error'; id: number; message: string };

let model: VQVAE | undefined;
let trainer: VQVAETrainer | undefined;

async function handle(request: WorkerRequest & { id: number }): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'init': {
      await initBackend();
      const weights = weightMapFromWorkerInit(request.weights);
      model = new VQVAE(request.config, weights);
      return { reply: { type: 'done', id: request.id }, transfer: [] };
    }
    case 'encode': {
      const x = tf.tensor3d(request.audio, [1, request.audio.length, 1]);
      const zs = model!.encode(x, request.levels);
      x.dispose();
      const codes = zs.map((z) => z.dataSync() as Int32Array);
      tf.dispose(zs);
      return { reply: { type: 'encoded', id: request.id, codes }, transfer: codes.map((c) => c.buffer as ArrayBuffer) };
    }
    case 'train-init': {
      // The codebook EMA and the optimiser stay on the main thread: a worker only computes
      // gradients, so its trainer needs no random state.
      trainer = new VQVAETrainer(model!, request.bandwidth, new Rng(0), request.train);
      return { reply: { type: 'done', id: request.id }, transfer: [] };
    }
    case 'set-weights': {
      setWorkerWeights(model!.weights, request.weights);
      return { reply: { type: 'done', id: request.id }, transfer: [] };
    }
    case 'micro-batch': {
      const result = trainer!.microBatchGradients(request.x, request.items, request.length);
      const transfer = result.levels.flatMap((l) => [l.latents.buffer, l.codes.buffer, l.decoded.buffer, ...Object.values(l.grads).map((g) => g.buffer)]) as ArrayBuffer[];
      return { reply: { type: 'trained', id: request.id, result }, transfer };
    }
    case 'decode': {
      const z = tf.tensor2d(request.codes, [1, request.codes.length], 'int32');
      const y = model!.decode(z, request.level);
      z.dispose();
      const audio = y.dataSync() as Float32Array;
      y.dispose();
      return { reply: { type: 'decoded', id: request.id, audio }, transfer: [audio.buffer as ArrayBuffer] };
    }
  }
}

serveWorkerRequests(handle);
