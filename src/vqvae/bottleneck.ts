import * as tf from '@tensorflow/tfjs';
import { ParameterRegistry, WeightMap } from './weights';

/**
 * One level's vector quantiser (`BottleneckBlock`): a codebook `k` of `l_bins` vectors of
 * `emb_width`, stored under `bottleneck.level_blocks.{L}.k`.
 *
 * VQ-VAE: van den Oord et al., "Neural Discrete Representation Learning" (2017); the hierarchical
 * audio version with independent levels: Dhariwal et al., "Jukebox: A Generative Model for Music"
 * (2020), section 3. At inference:
 * - each latent takes the code at the smallest squared Euclidean distance, computed as
 *   |x|² − 2x·k + |k|² with one matrix product, exactly as the reference does;
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
      const kNormSq = tf.sum(tf.square(k), 1).expandDims(0); // [1, bins]
      const codes: tf.Tensor1D[] = [];
      for (let start = 0; start < b * t; start += this.blockRows) {
        const rows = Math.min(this.blockRows, b * t - start);
        codes.push(
          tf.tidy(() => {
            const xb = flat.slice([start, 0], [rows, c]);
            const xNormSq = tf.sum(tf.square(xb), 1, true); // [rows, 1]
            const distance = tf.add(tf.sub(xNormSq, tf.mul(2, tf.matMul(xb, k, false, true))), kNormSq);
            return tf.argMin(distance, 1) as tf.Tensor1D;
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
