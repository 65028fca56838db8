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
  const weights = new WeightMap();
  let index = 0;
  for (const [name, shape] of registry.spec) {
    const std = registry.initStd.get(name)!;
    const tensorSeed = seed * 100_003 + index++;
    weights.set(name, std === 0 ? tf.zeros(shape) : tf.randomNormal(shape, 0, std, 'float32', tensorSeed));
  }
  return new VQVAE(config, weights);
}
