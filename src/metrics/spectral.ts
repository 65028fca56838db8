import * as tf from '@tensorflow/tfjs';
import { DEFAULT_STFT, MULTISPECTRAL_STFTS, STFTSettings, stftMagnitude } from './stft';

/** Per-item Frobenius norm: `[B, ...]` → `[B]` (the reference's `norm`). */
export function itemNorm(x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x.reshape([x.shape[0], -1])), 1)) as tf.Tensor1D);
}

/** ‖a − b‖ per item for two magnitude spectrograms `[B, frames, bins]`. */
export function spectrogramDistance(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor1D {
  return tf.tidy(() => itemNorm(tf.sub(a, b)));
}

/**
 * ‖S_in − S_out‖ / ‖S_in‖ per item from magnitude spectrograms; items whose reference norm is at
 * most `epsilon` (silence) give 0, as the reference's `spectral_convergence`.
 */
export function convergence(specIn: tf.Tensor3D, specOut: tf.Tensor3D, epsilon = 2e-3): tf.Tensor1D {
  return tf.tidy(() => {
    const gtNorm = itemNorm(specIn);
    const mask = tf.cast(tf.greater(gtNorm, epsilon), 'float32');
    return tf.div(tf.mul(spectrogramDistance(specIn, specOut), mask), tf.maximum(gtNorm, epsilon)) as tf.Tensor1D;
  });
}

/**
 * The reference's `spectral_loss`: ‖|STFT(x_in)| − |STFT(x_out)|‖ per item, with the default STFT
 * (n_fft 2048, hop 256, window 1536). `[B, T]` → `[B]`, not yet divided by the bandwidth.
 */
export function spectralLoss(xIn: tf.Tensor2D, xOut: tf.Tensor2D, settings: STFTSettings = DEFAULT_STFT): tf.Tensor1D {
  return tf.tidy(() => spectrogramDistance(stftMagnitude(xIn, settings), stftMagnitude(xOut, settings)));
}

/**
 * The reference's `multispectral_loss`: the spectral loss averaged over its three STFT settings
 * (n_fft 2048/1024/512, hop 240/120/50, window 1200/600/240). `[B, T]` → `[B]`.
 */
export function multispectralLoss(xIn: tf.Tensor2D, xOut: tf.Tensor2D, settings: readonly STFTSettings[] = MULTISPECTRAL_STFTS): tf.Tensor1D {
  return tf.tidy(() => tf.div(tf.addN(settings.map((s) => spectralLoss(xIn, xOut, s))), settings.length) as tf.Tensor1D);
}

/** The reference's `spectral_convergence` with the default STFT. `[B, T]` → `[B]`. */
export function spectralConvergence(xIn: tf.Tensor2D, xOut: tf.Tensor2D, epsilon = 2e-3, settings: STFTSettings = DEFAULT_STFT): tf.Tensor1D {
  return tf.tidy(() => convergence(stftMagnitude(xIn, settings), stftMagnitude(xOut, settings), epsilon));
}
