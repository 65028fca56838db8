import * as tf from '@tensorflow/tfjs';
import { ParameterRegistry, WeightMap } from './weights';

/**
 * One level's vector quantiser (`BottleneckBlock`): a codebook `k` of `l_bins` vectors of
 * `emb_width`, stored under `bottleneck.level_blocks.{L}.k`.
 *
 * VQ-VAE: van den Oord et al., "Neural Discrete Representation Learning" (2017); the hierarchical
 * audio version with independent levels: Dhariwal et al., "Jukebox: A Generative Model for Music"
 * (2020), section 3. At inference:
 * - each latent takes the code at the smallest squared Euclidean distance |x − k|²; since |x|²
 *   is the same for every code, that is the largest x·k − |k|²/2, one matrix product per block;
 * - latents are quantised in row blocks, so the distance matrix stays a few MB however long the
 *   song is.
 */
export class BottleneckBlock {
  readonly codebook: string;

  constructor(
    registry: ParameterRegistry,
    prefix: string,
    readonly bins: number,
    readonly embWidth: number,
    /** Latents per distance matrix; 4096 × 2048 floats is 32 MB. */
    readonly blockRows = 4096,
  ) {
    this.codebook = registry.declare(`${prefix}.k`, [bins, embWidth], 1);
  }

  /** `[B, T, emb_width]` latents → `[B, T]` int32 codes. */
  quantise(w: WeightMap, x: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, t, c] = x.shape;
      const flat = x.reshape([b * t, c]) as tf.Tensor2D;
      const k = w.get(this.codebook) as tf.Tensor2D;
      // argmin_j |x|² − 2x·k_j + |k_j|² = argmax_j x·k_j − |k_j|²/2: one fused matmul-plus-bias
      // per block. The codebook is transposed once up front because tfjs-wasm's matmul is many
      // times slower with transposeB.
      const kT = k.transpose() as tf.Tensor2D; // [emb_width, bins]
      const bias = tf.mul(tf.sum(tf.square(k), 1), -0.5); // [bins]
      const codes: tf.Tensor1D[] = [];
      for (let start = 0; start < b * t; start += this.blockRows) {
        const rows = Math.min(this.blockRows, b * t - start);
        codes.push(
          tf.tidy(() => {
            const score = tf.fused.matMul({ a: flat.slice([start, 0], [rows, c]), b: kT, bias });
            return tf.argMax(score, 1) as tf.Tensor1D;
          }),
        );
      }
      return (codes.length === 1 ? codes[0] : tf.concat(codes)).reshape([b, t]) as tf.Tensor2D;
    });
  }

  /** `[B, T]` codes → `[B, T, emb_width]` codebook vectors. */
  dequantise(w: WeightMap, codes: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = codes.shape;
      return tf.gather(w.get(this.codebook), codes.reshape([b * t]).toInt()).reshape([b, t, this.embWidth]) as tf.Tensor3D;
    });
  }
}
