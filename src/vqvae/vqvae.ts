import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { BottleneckBlock } from './bottleneck';
import { hopLengths, levelBlockSize, validateVQVAEConfig, VQVAEConfig } from './config';
import { Decoder, Encoder } from './encdec';
import { decodeFast, encodeFast, fastVQVAEUnsupported, fastVQVAEWanted } from './fast/conv-runner';
import { Reach } from './layers';
import { ParameterRegistry, ParameterSpec, WeightMap } from './weights';

/**
 * Jukebox's hierarchical VQ-VAE (reference `jukebox/vqvae/vqvae.py`): per level an independent
 * encoder, codebook and decoder; level L compresses audio by `hop_lengths[L]`.
 *
 * Lifecycle: build it from a config and a WeightMap (see `loadVQVAE` for checkpoints), call
 * `encode`/`decode` (or the chunked `encodeSource`/`decodeToSink` helpers), then `dispose()`.
 * Tensors are `[B, T, 1]` audio in [-1, 1] and `[B, T / hop]` int32 codes.
 */
export class VQVAE {
  readonly config: VQVAEConfig;
  readonly hopLengths: number[];
  readonly encoders: Encoder[];
  readonly decoders: Decoder[];
  readonly bottleneck: BottleneckBlock[];
  /** The reference `state_dict` names and shapes this model declares, in declaration order. */
  readonly spec: ParameterSpec;
  private disposed = false;

  /**
   * @param weights every tensor of `spec`, reference layout; the model owns and disposes it.
   */
  constructor(config: VQVAEConfig, readonly weights: WeightMap) {
    this.config = validateVQVAEConfig(config);
    this.hopLengths = hopLengths(config);
    const registry = new ParameterRegistry();
    ({ encoders: this.encoders, decoders: this.decoders, bottleneck: this.bottleneck } = buildModules(config, registry));
    this.spec = registry.spec;
    for (const [name, shape] of this.spec) {
      if (!weights.has(name)) throw new Error(`weight ${name} [${shape}] is missing`);
      const got = weights.get(name).shape;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
        throw new Error(`weight ${name} has shape [${got}], expected [${shape}]`);
      }
    }
  }

  /** The parameter names and shapes a config implies, without allocating any tensor. */
  static parameterSpec(config: VQVAEConfig): ParameterSpec {
    const registry = new ParameterRegistry();
    VQVAE.declare(config, registry);
    return registry.spec;
  }

  /** Declares a config's parameters (names, shapes, init stds) in `registry`. */
  static declare(config: VQVAEConfig, registry: ParameterRegistry): void {
    buildModules(validateVQVAEConfig(config), registry);
  }

  /** Number of scalar parameters, codebooks included. */
  get numParameters(): number {
    return this.weights.size();
  }

  private checkLevel(level: number): void {
    if (!Number.isInteger(level) || level < 0 || level >= this.config.levels) {
      throw new JukeboxError(`level ${level} does not exist (this VQ-VAE has levels 0..${this.config.levels - 1})`);
    }
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this VQVAE has been disposed');
  }

  /** `[B, T, 1]` audio → the level's pre-quantisation latents `[B, T / hop, emb_width]`. */
  encodeLatents(x: tf.Tensor3D, level: number): tf.Tensor3D {
    this.checkAlive();
    this.checkLevel(level);
    return this.encoders[level].apply(this.weights, x);
  }

  /**
   * Encodes `[B, T, 1]` audio at each of `levels` (default all): `[B, floor(T / hop_L)]` int32
   * codes per level, in the order asked. The reference's `encode(x, start_level, end_level)`.
   */
  encode(x: tf.Tensor3D, levels: number[] = this.allLevels()): tf.Tensor2D[] {
    this.checkAlive();
    if (x.rank !== 3 || x.shape[2] !== 1) {
      throw new JukeboxError(`encode expects audio shaped [batch, samples, 1], got [${x.shape}]`);
    }
    levels.forEach((level) => this.checkLevel(level));
    if (this.takesFastPath()) return encodeFast(this, x, levels);
    return levels.map((level) => {
      const latents = this.encoders[level].apply(this.weights, x);
      const codes = this.bottleneck[level].quantise(this.weights, latents);
      latents.dispose();
      return codes;
    });
  }

  /**
   * Decodes one level from its own codes, `[B, N]` → `[B, N * hop, 1]`: the reference's
   * `decode([z], start_level=level, end_level=level + 1)`.
   */
  decode(codes: tf.Tensor2D, level: number): tf.Tensor3D {
    this.checkAlive();
    this.checkLevel(level);
    if (codes.rank !== 2) throw new JukeboxError(`decode expects codes shaped [batch, tokens], got [${codes.shape}]`);
    if (this.takesFastPath()) return decodeFast(this, codes, level);
    const z = this.bottleneck[level].dequantise(this.weights, codes);
    const audio = this.decoders[level].apply(this.weights, z);
    z.dispose();
    return audio;
  }

  /**
   * Whether `encode`/`decode` run on the hand-written WebAssembly path (src/vqvae/fast): on the
   * CPU backends, for every config it covers, unless JUKEBOX_FAST_VQVAE=0.
   */
  takesFastPath(): boolean {
    return fastVQVAEWanted() && fastVQVAEUnsupported(this) === null;
  }

  /** Audio samples either side of a token's span that change its code (encoder receptive reach). */
  encoderReach(level: number): Reach {
    this.checkLevel(level);
    return this.encoders[level].reach();
  }

  /** Output samples either side of a token's span that it changes (decoder receptive reach). */
  decoderReach(level: number): Reach {
    this.checkLevel(level);
    return this.decoders[level].reach();
  }

  allLevels(): number[] {
    return Array.from({ length: this.config.levels }, (_, i) => i);
  }

  dispose(): void {
    this.weights.dispose();
    this.disposed = true;
  }
}

/**
 * Builds the module tree of a config, declaring every parameter in `registry` under its
 * reference `state_dict` name: `encoders.{L}`, `decoders.{L}`, `bottleneck.level_blocks.{L}.k`.
 */
function buildModules(config: VQVAEConfig, registry: ParameterRegistry) {
  const encoders: Encoder[] = [];
  const decoders: Decoder[] = [];
  for (let level = 0; level < config.levels; level++) {
    const { width, depth } = levelBlockSize(config, level);
    const opts = {
      width,
      depth,
      mConv: config.m_conv,
      dilationGrowthRate: config.dilation_growth_rate,
      dilationCycle: config.dilation_cycle,
      // The reference VQ-VAE never scales its residual branches (res_scale is False).
      resScale: false,
    };
    const downs = config.downs_t.slice(0, level + 1);
    const strides = config.strides_t.slice(0, level + 1);
    encoders.push(new Encoder(registry, `encoders.${level}`, 1, config.emb_width, downs, strides, opts));
    decoders.push(
      new Decoder(registry, `decoders.${level}`, 1, config.emb_width, downs, strides, opts,
        config.reverse_decoder_dilation),
    );
  }
  const bottleneck = Array.from(
    { length: config.levels },
    (_, level) => new BottleneckBlock(registry, `bottleneck.level_blocks.${level}`, config.l_bins, config.emb_width),
  );
  return { encoders, decoders, bottleneck };
}
