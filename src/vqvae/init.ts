import * as tf from '@tensorflow/tfjs';
import { VQVAEConfig } from './config';
import { VQVAE } from './vqvae';
import { ParameterRegistry, WeightMap } from './weights';

/**
 * A freshly initialised VQ-VAE: every weight normal with the std its module declared
 * (variance-preserving convs, small biases, unit-variance codebooks), reproducible from `seed`
 * on any backend (tfjs's seeded normal sampler is pure JS).
 */
export function randomVQVAE(config: VQVAEConfig, seed = 0): VQVAE {
  const registry = new ParameterRegistry();
  VQVAE.declare(config, registry);
  return new VQVAE(config, randomWeights(registry, seed));
}

/**
 * Every parameter `registry` declares, drawn from the normal init its module declared, in
 * declaration order with one seed per tensor (so a model's weights depend only on `seed`).
 */
export function randomWeights(registry: ParameterRegistry, seed = 0): WeightMap {
  const weights = new WeightMap();
  let index = 0;
  for (const [name, shape] of registry.spec) {
    const std = registry.initStd.get(name)!;
    const mean = registry.initMean.get(name)!;
    // tfjs draws from Math.random() when the seed is 0 (`seed ? seed : Math.random()`), which would
    // make the first tensor of seed 0 differ between processes: that one tensor gets seed -1.
    const tensorSeed = seed * 100_003 + index++ || -1;
    weights.set(name, std === 0 ? tf.fill(shape, mean) : tf.randomNormal(shape, mean, std, 'float32', tensorSeed));
  }
  return weights;
}
