import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVQVAE } from '../../src/checkpoint/load';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { Rng } from '../../src/rng';
import { VQVAETrainer } from '../../src/vqvae/trainer';
import { VQVAE } from '../../src/vqvae/vqvae';
import { relativeL2, tensorLeak, useBackend } from '../helpers';

/**
 * One training step against the reference: test/fixtures/reference/make_training_reference.py
 * ran openai/jukebox's VQVAE.forward (lmix, multi-scale spectral and commit losses, EMA update)
 * and backward on the tiny fixture model and a batch of two clips.
 */
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const fx = readSafetensors(path.join(FIXTURES, 'training_step.safetensors'));
const reference = JSON.parse(fx.metadata.scalars) as Record<string, number>;
const gradNames = JSON.parse(fx.metadata.grad_names) as string[];
const f32 = (name: string) => fx.tensors.get(name)!.data as Float32Array;

describe('a training step matches the reference', () => {
  let model: VQVAE;
  let trainer: VQVAETrainer;
  let x: tf.Tensor2D;
  let result: Awaited<ReturnType<VQVAETrainer['lossAndGrads']>>;

  beforeAll(async () => {
    await useBackend();
    model = loadVQVAE(path.join(FIXTURES, 'tiny_vqvae_zip.pth')).model;
    trainer = new VQVAETrainer(model, JSON.parse(fx.metadata.bandwidth), new Rng(1));
    trainer.restoreCodebooks();
    x = tf.tensor2d(f32('x'), [2, 4096]);
    result = await trainer.lossAndGrads(x);
  });
  afterAll(() => {
    for (const g of result.grads.values()) g.dispose();
    x.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('computes every loss term and quantiser metric as the reference (relative error < 1e-5)', () => {
    const keys = ['loss', 'recons_loss', 'multispectral_loss', 'spectral_loss', 'commit_loss', 'l2_loss', 'l1_loss', 'linf_loss', 'fit', 'pn',
      ...[1, 2, 3].flatMap((l) => [`recons_loss_l${l}`, `multispectral_loss_l${l}`, `spectral_loss_l${l}`])];
    for (const key of keys) {
      expect(Math.abs(result.metrics[key] - reference[key]) / Math.abs(reference[key]), key).toBeLessThan(1e-5);
    }
    expect(Math.abs(result.metrics.spectral_convergence - reference.spectral_convergence) / reference.spectral_convergence).toBeLessThan(1e-4);
  });

  it('computes the gradient of every parameter, through the straight-through estimator', () => {
    const norms = f32('grad_norms');
    expect([...result.grads.keys()].sort()).toEqual([...gradNames].sort());
    gradNames.forEach((name, i) => {
      const norm = tf.tidy(() => tf.norm(result.grads.get(name)!).dataSync()[0]);
      expect(Math.abs(norm - norms[i]) / norms[i], name).toBeLessThan(1e-3);
    });
    for (const [key] of fx.tensors) {
      if (!key.startsWith('grad.')) continue;
      const name = key.slice(5);
      expect(relativeL2(result.grads.get(name)!.dataSync(), f32(key)), name).toBeLessThan(1e-3);
    }
  });

  it('updates the codebooks by EMA as the reference (codes used in the batch)', () => {
    const { l_bins: bins, emb_width: width } = model.config;
    result.levels.forEach((level, l) => {
      const kOld = model.weights.get(`bottleneck.level_blocks.${l}.k`).dataSync() as Float32Array;
      const ema = trainer.codebooks[l];
      const { k } = ema.update(kOld, level.latents, level.codes, new Rng(2));
      const wantElem = f32(`k_elem_after_level_${l}`);
      expect(relativeL2(ema.state!.kElem, wantElem)).toBeLessThan(1e-6);
      const wantK = f32(`k_after_level_${l}`);
      let used = 0;
      for (let j = 0; j < bins; j++) {
        // Unused codes were restarted from random latents, which depend on torch's RNG.
        if (wantElem[j] < 1) continue;
        used++;
        expect(relativeL2(k.subarray(j * width, (j + 1) * width), wantK.subarray(j * width, (j + 1) * width))).toBeLessThan(1e-4);
      }
      expect(used).toBeGreaterThan(bins / 2);
    });
  });
});

describe('gradients agree with finite differences', () => {
  it('through encoder, straight-through quantiser and decoder of a tiny model', async () => {
    await useBackend();
    const model = loadVQVAE(path.join(FIXTURES, 'tiny_vqvae_zip.pth')).model;
    const bandwidth = JSON.parse(fx.metadata.bandwidth);
    const trainer = new VQVAETrainer(model, bandwidth, new Rng(1), { multispectral: 0, lmix: { l1: 0, l2: 1, linf: 0, linfK: 1 } });
    trainer.restoreCodebooks();
    const x = tf.tensor2d(f32('x').subarray(0, 4096), [1, 4096]);
    const { grads, levels } = await trainer.lossAndGrads(x);
    // The straight-through estimator is the exact gradient of the surrogate in which each
    // level's quantisation adds a constant offset c = x_q − x (frozen at this point), plus the
    // commit loss toward the frozen x_q. Finite differences of that surrogate must match.
    const width = model.config.emb_width;
    const frozen = levels.map((l, level) => {
      const quantised = tf.gather(model.weights.get(`bottleneck.level_blocks.${level}.k`), tf.tensor1d(l.codes, 'int32'));
      return { quantised, offset: tf.sub(quantised, tf.tensor2d(l.latents, [l.codes.length, width])) };
    });
    const x3 = x.reshape([1, 4096, 1]) as tf.Tensor3D;
    // Sums in float64 on the host, so finite differences are not drowned by float32 rounding.
    const sumSquares = (a: tf.Tensor, b: tf.Tensor) => {
      const [u, v] = [a.dataSync(), b.dataSync()];
      let acc = 0;
      for (let i = 0; i < u.length; i++) acc += (u[i] - v[i]) ** 2;
      return acc;
    };
    const surrogate = () => tf.tidy(() => {
      let total = 0;
      model.decoders.forEach((decoder, level) => {
        const latents = model.encoders[level].apply(model.weights, x3).reshape([-1, width]);
        const decoded = decoder.apply(model.weights, tf.add(latents, frozen[level].offset).reshape([1, -1, width]) as tf.Tensor3D);
        total += sumSquares(decoded, x) / 4096 / bandwidth.l2;
        total += (model.config.commit * sumSquares(frozen[level].quantised, latents)) / latents.size;
      });
      return total;
    });
    // Encoder parameters (their gradient only arrives through the straight-through estimator and
    // the commit loss) at every level, and decoder parameters. Probes sit after the dense ReLU
    // stacks: early-layer biases move so many ReLU kinks that no finite step measures a slope.
    const probes: [string, number][] = [
      ['encoders.0.level_blocks.0.model.2.weight', 40],
      ['encoders.0.level_blocks.0.model.2.bias', 7],
      ['encoders.1.level_blocks.1.model.1.bias', 2],
      ['encoders.2.level_blocks.2.model.1.weight', 17],
      ['decoders.1.level_blocks.0.model.1.1.bias', 5],
      ['decoders.0.out.weight', 2],
    ];
    for (const [name, index] of probes) {
      const original = model.weights.get(name);
      const values = original.dataSync().slice() as Float32Array;
      const h = 2e-3 * Math.max(1e-1, Math.abs(values[index]));
      const at = (delta: number) => {
        const v = values.slice();
        v[index] += delta;
        model.weights.set(name, tf.tensor(v, original.shape));
        return surrogate();
      };
      // Least-squares slope over symmetric offsets: curvature cancels, float32 noise averages out.
      let num = 0;
      let den = 0;
      for (let step = -5; step <= 5; step++) {
        if (step === 0) continue;
        const delta = (h * step) / 5;
        num += delta * at(delta);
        den += delta * delta;
      }
      const numeric = num / den;
      model.weights.set(name, tf.tensor(values, original.shape));
      const analytic = grads.get(name)!.dataSync()[index];
      expect(Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-2), name).toBeLessThan(1e-2);
    }
    frozen.forEach((f) => tf.dispose([f.quantised, f.offset]));
    for (const g of grads.values()) g.dispose();
    tf.dispose([x, x3]);
    trainer.dispose();
    model.dispose();
  });

  it('leaks no tensors over a training step', async () => {
    await useBackend();
    const model = loadVQVAE(path.join(FIXTURES, 'tiny_vqvae_zip.pth')).model;
    const trainer = new VQVAETrainer(model, JSON.parse(fx.metadata.bandwidth), new Rng(1));
    const x = tf.tensor2d(f32('x'), [2, 4096]);
    await trainer.trainStep(x); // the first step creates the Adam moments and codebook state
    expect(await tensorLeak(() => trainer.trainStep(x))).toBe(0);
    x.dispose();
    trainer.dispose();
    model.dispose();
  });
});

describe('training on worker threads', () => {
  it('gives the same step, bit for bit, as the main thread', async () => {
    await useBackend();
    const { VQVAEWorkerPool } = await import('../../src/vqvae/worker-pool');
    const bandwidth = JSON.parse(fx.metadata.bandwidth);
    const run = async (workers: number) => {
      const model = loadVQVAE(path.join(FIXTURES, 'tiny_vqvae_zip.pth')).model;
      const trainer = new VQVAETrainer(model, bandwidth, new Rng(5), { lr_warmup: 1 });
      if (workers > 1) {
        trainer.pool = await VQVAEWorkerPool.start(model, workers);
        await trainer.pool.startTraining(bandwidth, trainer.config);
      }
      const x = tf.tensor2d(f32('x'), [2, 4096]);
      const metrics = [await trainer.trainStep(x), await trainer.trainStep(x)];
      const weights = Array.from(model.weights.get('decoders.1.out.weight').dataSync());
      await trainer.pool?.close();
      x.dispose();
      trainer.dispose();
      model.dispose();
      return { metrics, weights };
    };
    const [one, two] = [await run(1), await run(2)];
    expect(two.metrics).toEqual(one.metrics);
    expect(two.weights).toEqual(one.weights);
  });
});
