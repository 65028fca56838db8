import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { RealFFT } from '../../src/metrics/fft';
import { frameFFT } from '../../src/train/fast/fft-kernels';
import { dftMagnitude, fftMagnitude, MULTISPECTRAL_STFTS, DEFAULT_STFT, STFTSettings } from '../../src/metrics/stft';
import { tensorLeak, useBackend } from '../helpers';

/**
 * The STFT magnitude by float64 FFTs (what the spectral losses use for power-of-two n_fft) against
 * the DFT-matrix path on the backend, values and gradients, and the FFT itself against a direct DFT.
 */

beforeAll(useBackend);

function signal(batch: number, length: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: batch * length }, (_, i) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.3 * Math.sin(i * 0.01 * (1 + (i % 7))) + 0.2 * (s / 2147483648 - 0.5);
  });
}

describe('RealFFT', () => {
  it('equals a direct float64 DFT forward, and its unnormalised Hermitian inverse', () => {
    for (const n of [4, 16, 256]) {
      const fft = new RealFFT(n);
      const x = Float64Array.from(signal(1, n, n));
      const re = new Float64Array(n / 2 + 1);
      const im = new Float64Array(n / 2 + 1);
      fft.forward(x, re, im);
      for (let k = 0; k <= n / 2; k++) {
        let r = 0;
        let i = 0;
        for (let m = 0; m < n; m++) {
          r += x[m] * Math.cos((2 * Math.PI * k * m) / n);
          i -= x[m] * Math.sin((2 * Math.PI * k * m) / n);
        }
        expect(Math.abs(re[k] - r)).toBeLessThan(1e-12);
        expect(Math.abs(im[k] - i)).toBeLessThan(1e-12);
      }
      // The inverse of the forward transform is n times the signal.
      const back = new Float64Array(n);
      fft.inverse(re, im, back);
      for (let m = 0; m < n; m++) expect(Math.abs(back[m] / n - x[m])).toBeLessThan(1e-13);
    }
  });

  it('equals the SIMD frame kernels (four frames per call, float32), forward and inverse', () => {
    const simd = frameFFT();
    expect(simd).not.toBeNull();
    for (const n of [4, 512, 2048]) {
      const count = 7; // not a multiple of the four lanes
      const bins = n / 2 + 1;
      const frames = signal(count, n, n + 1);
      const re = new Float64Array(count * bins);
      const im = new Float64Array(count * bins);
      simd!.forward(n, frames, count, re, im);
      const fft = new RealFFT(n);
      const r = new Float64Array(bins);
      const i = new Float64Array(bins);
      let worst = 0;
      let scale = 0;
      for (let f = 0; f < count; f++) {
        fft.forward(Float64Array.from(frames.subarray(f * n, (f + 1) * n)), r, i);
        for (let k = 0; k < bins; k++) {
          worst = Math.max(worst, Math.abs(r[k] - re[f * bins + k]), Math.abs(i[k] - im[f * bins + k]));
          scale = Math.max(scale, Math.hypot(r[k], i[k]));
        }
      }
      expect(worst / scale).toBeLessThan(1e-6);
      const back = new Float32Array(count * n);
      simd!.inverse(n, re, im, count, back);
      for (let j = 0; j < count * n; j++) expect(Math.abs(back[j] / n - frames[j])).toBeLessThan(1e-6);
    }
  });

  it('rejects sizes that are not powers of two', () => {
    expect(() => new RealFFT(12)).toThrow(/power of two/);
  });
});

describe.each<[string, STFTSettings]>([
  ['default', DEFAULT_STFT],
  ...MULTISPECTRAL_STFTS.map((s): [string, STFTSettings] => [`n_fft ${s.nFft}`, s]),
  ['window = n_fft, short signal', { nFft: 64, hopLength: 16, windowSize: 64 }],
])('fftMagnitude (%s)', (_name, s) => {
  it('equals the DFT-matrix path: magnitudes and the gradient of a weighted sum', async () => {
    const length = s.nFft === 64 ? 45 : 5000;
    const x = tf.tensor2d(signal(2, length, 7), [2, length]);
    tf.dispose(dftMagnitude(x, s)); // its DFT matrices are kept for the process
    const leak = await tensorLeak(() => {
      tf.tidy(() => {
        const fast = fftMagnitude(x, s);
        const slow = dftMagnitude(x, s);
        expect(fast.shape).toEqual(slow.shape);
        const scale = tf.max(tf.abs(slow)).dataSync()[0];
        expect(tf.max(tf.abs(tf.sub(fast, slow))).dataSync()[0] / scale).toBeLessThan(1e-5);
        // A loss that weights every bin differently, as a spectral distance does.
        const weights = tf.randomUniform(fast.shape, 0.5, 1.5, 'float32', 3);
        const loss = (f: (x: tf.Tensor2D) => tf.Tensor3D) => (input: tf.Tensor) => tf.sum(tf.mul(f(input as tf.Tensor2D), weights));
        const gFast = tf.grad(loss((a) => fftMagnitude(a, s)))(x);
        const gSlow = tf.grad(loss((a) => dftMagnitude(a, s)))(x);
        const gScale = tf.max(tf.abs(gSlow)).dataSync()[0];
        expect(tf.max(tf.abs(tf.sub(gFast, gSlow))).dataSync()[0] / gScale).toBeLessThan(1e-4);
      });
    });
    expect(leak).toBe(0);
    x.dispose();
  });
});
