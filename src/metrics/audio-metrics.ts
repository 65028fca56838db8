import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { asBatch, melFromPower, MelOptions } from './mel';
import { convergence, spectrogramDistance } from './spectral';
import { DEFAULT_STFT, MULTISPECTRAL_STFTS, STFTSettings, stftMagnitude } from './stft';

/*
 * Reconstruction-noise metrics: how far an estimate (a VQ-VAE reconstruction) is from its
 * reference audio.
 *
 * Every metric is one function with two entry points, picked by the argument types:
 *
 *   metric(reference: Float32Array, estimate: Float32Array, …) → number
 *     One signal each, same length. The arrays are wrapped in tensors inside tf.tidy and the
 *     result read back; nothing stays allocated.
 *   metric(reference: tf.Tensor, estimate: tf.Tensor, …) → tf.Tensor1D
 *     `[B, T]` (or `[T]`, read as B = 1), same shape; one value per item, `[B]`. The result is
 *     created inside tf.tidy: the caller owns (and disposes) it and nothing else is left behind.
 *
 * The computation is float32 on the active tfjs backend. STFT-based metrics use `stftMagnitude`
 * (torch.stft's framing: centred, reflect padding, periodic Hann window) and need T > n_fft / 2;
 * its DFT bases are cached per STFT setting for the life of the process (the first call with a
 * setting allocates them).
 *
 * Conventions for degenerate inputs (documented per metric): a zero error gives +Infinity for the
 * "higher is better" ratios (SNR, SI-SDR) and −Infinity for spectral convergence in dB. Note that
 * JSON.stringify writes ±Infinity and NaN as null.
 */

/** The reference's `spectral_convergence` epsilon: items whose reference spectrogram norm is at most this give 0. */
export const SPECTRAL_CONVERGENCE_EPSILON = 2e-3;
/** Power floor of the log-spectral distance: P = |S|² + 1e-10 (−100 dB), keeps log10 finite in silent bins. */
export const LOG_SPECTRAL_DISTANCE_EPS = 1e-10;
/** Floor of the mel L1 distance: ln(mel power + 1e-5), keeps the log finite in silent bands. */
export const MEL_L1_EPS = 1e-5;

/** Options of `spectralConvergenceLinear` / `spectralConvergenceDb`. */
export interface SpectralConvergenceOptions {
  /** STFT framing; default `DEFAULT_STFT` (n_fft 2048, hop 256, window 1536), the reference's. */
  stft?: STFTSettings;
  /** Silence threshold on the reference spectrogram norm; default `SPECTRAL_CONVERGENCE_EPSILON` (2e-3). */
  epsilon?: number;
}

/** Options of `multiscaleSpectralDistance`. */
export interface MultiscaleSpectralOptions {
  /** STFT settings averaged over; default `MULTISPECTRAL_STFTS`, the reference's three. */
  stfts?: readonly STFTSettings[];
}

/** Options of `logSpectralDistanceDb`. */
export interface LogSpectralDistanceOptions {
  /** STFT framing; default `DEFAULT_STFT`. */
  stft?: STFTSettings;
  /** Added to each power |S|²; default `LOG_SPECTRAL_DISTANCE_EPS` (1e-10). */
  eps?: number;
}

/** Options of `melL1`: the mel analysis (`MelOptions`: STFT, nMels 128, fmin 0, fmax sr/2) and the log floor. */
export interface MelL1Options extends MelOptions {
  /** Added to the mel power before the natural log; default `MEL_L1_EPS` (1e-5). */
  eps?: number;
}

type Audio = Float32Array | tf.Tensor;

/**
 * Runs a `[B, T] × [B, T] → [B]` implementation on either kind of input (see the file comment).
 * `minLength` (if given) is the shortest T the metric accepts.
 */
function evaluate(what: string, reference: Audio, estimate: Audio, impl: (r: tf.Tensor2D, e: tf.Tensor2D) => tf.Tensor, minLength = 1): number | tf.Tensor1D {
  const checkLength = (length: number) => {
    if (length < minLength) throw new JukeboxError(`${what}: signals of ${length} samples are too short (need at least ${minLength})`);
  };
  if (reference instanceof tf.Tensor && estimate instanceof tf.Tensor) {
    if (reference.shape.join() !== estimate.shape.join()) {
      throw new JukeboxError(`${what}: reference [${reference.shape.join(', ')}] and estimate [${estimate.shape.join(', ')}] differ in shape`);
    }
    return tf.tidy(() => {
      const r = asBatch(reference, what);
      checkLength(r.shape[1]);
      return impl(r, asBatch(estimate, what)) as tf.Tensor1D;
    });
  }
  if (reference instanceof Float32Array && estimate instanceof Float32Array) {
    if (reference.length !== estimate.length) {
      throw new JukeboxError(`${what}: reference (${reference.length} samples) and estimate (${estimate.length}) differ in length; compareReconstruction trims to the common length`);
    }
    checkLength(reference.length);
    const out = tf.tidy(() => impl(tf.tensor2d(reference, [1, reference.length]), tf.tensor2d(estimate, [1, estimate.length])));
    try {
      return out.dataSync()[0];
    } finally {
      out.dispose();
    }
  }
  throw new JukeboxError(`${what}: reference and estimate must both be Float32Arrays or both tf.Tensors`);
}

/** 10·log10(x), elementwise. */
function db10(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.log(x), 10 / Math.LN10);
}

/** 10·log10(num / den), +Infinity where den is 0 (whatever num is). */
function ratioDb(num: tf.Tensor, den: tf.Tensor): tf.Tensor {
  return tf.where(tf.equal(den, 0), tf.fill(den.shape, Infinity), db10(tf.div(num, den)));
}

/** Σ over the last axis of a ⊙ b, `[B, T]` → `[B]`. */
function dot(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(a, b), -1);
}

const stftMinLength = (s: STFTSettings) => Math.floor(s.nFft / 2) + 1;

// ---------------------------------------------------------------------------------------------
// Implementations on spectrograms `[B, frames, bins]` (shared with compareReconstruction).
// ---------------------------------------------------------------------------------------------

function scDbFromLinear(sc: tf.Tensor): tf.Tensor {
  return tf.mul(tf.log(sc), 20 / Math.LN10);
}

function lsdFromMagnitudes(magRef: tf.Tensor3D, magEst: tf.Tensor3D, eps: number): tf.Tensor {
  const d = tf.mul(tf.sub(tf.log(tf.add(tf.square(magRef), eps)), tf.log(tf.add(tf.square(magEst), eps))), 10 / Math.LN10);
  return tf.mean(tf.sqrt(tf.mean(tf.square(d), 2)), 1);
}

function melL1FromMagnitudes(magRef: tf.Tensor3D, magEst: tf.Tensor3D, sampleRate: number, options: MelL1Options): tf.Tensor {
  const eps = options.eps ?? MEL_L1_EPS;
  const melRef = melFromPower(tf.square(magRef), sampleRate, options);
  const melEst = melFromPower(tf.square(magEst), sampleRate, options);
  return tf.mean(tf.abs(tf.sub(tf.log(tf.add(melRef, eps)), tf.log(tf.add(melEst, eps)))), [1, 2]);
}

function snrImpl(r: tf.Tensor2D, e: tf.Tensor2D): tf.Tensor {
  return ratioDb(dot(r, r), tf.sum(tf.square(tf.sub(r, e)), -1));
}

function siSdrImpl(r: tf.Tensor2D, e: tf.Tensor2D): tf.Tensor {
  const r0 = tf.sub(r, tf.mean(r, -1, true));
  const e0 = tf.sub(e, tf.mean(e, -1, true));
  // ⟨r0, r0⟩ and ⟨e0, r0⟩ by the same kernel, so that α is exactly 1 when est = ref.
  const alpha = tf.div(dot(e0, r0), dot(r0, r0)).expandDims(-1);
  const target = tf.mul(alpha, r0);
  const residual = tf.sub(target, e0);
  return ratioDb(dot(target, target), dot(residual, residual));
}

// ---------------------------------------------------------------------------------------------
// Public metrics.
// ---------------------------------------------------------------------------------------------

/**
 * Spectral convergence, linear: ‖|S_ref| − |S_est|‖_F / ‖|S_ref|‖_F of the magnitude spectrograms,
 * exactly the reference's `spectral_convergence` (`spectralConvergence` in spectral.ts): default
 * STFT n_fft 2048 / hop 256 / window 1536, and 0 for items whose ‖|S_ref|‖ ≤ epsilon (2e-3,
 * silence). 0 for identical signals; lower is better.
 * `Float32Array`s → number; tensors `[B, T]`/`[T]` → `[B]` (see the file comment).
 */
export function spectralConvergenceLinear(reference: Float32Array, estimate: Float32Array, options?: SpectralConvergenceOptions): number;
export function spectralConvergenceLinear(reference: tf.Tensor, estimate: tf.Tensor, options?: SpectralConvergenceOptions): tf.Tensor1D;
export function spectralConvergenceLinear(reference: Audio, estimate: Audio, options: SpectralConvergenceOptions = {}): number | tf.Tensor1D {
  const s = options.stft ?? DEFAULT_STFT;
  return evaluate('spectralConvergenceLinear', reference, estimate,
    (r, e) => convergence(stftMagnitude(r, s), stftMagnitude(e, s), options.epsilon ?? SPECTRAL_CONVERGENCE_EPSILON), stftMinLength(s));
}

/**
 * Spectral convergence in dB: 20·log10 of `spectralConvergenceLinear` (e.g. −20 dB = 10 % relative
 * spectral error). −Infinity for identical signals (or a silent reference, whose linear value is 0).
 */
export function spectralConvergenceDb(reference: Float32Array, estimate: Float32Array, options?: SpectralConvergenceOptions): number;
export function spectralConvergenceDb(reference: tf.Tensor, estimate: tf.Tensor, options?: SpectralConvergenceOptions): tf.Tensor1D;
export function spectralConvergenceDb(reference: Audio, estimate: Audio, options: SpectralConvergenceOptions = {}): number | tf.Tensor1D {
  const s = options.stft ?? DEFAULT_STFT;
  return evaluate('spectralConvergenceDb', reference, estimate,
    (r, e) => scDbFromLinear(convergence(stftMagnitude(r, s), stftMagnitude(e, s), options.epsilon ?? SPECTRAL_CONVERGENCE_EPSILON)), stftMinLength(s));
}

/**
 * Multi-scale spectral distance: the reference's `multispectral_loss`, i.e. ‖|S_ref| − |S_est|‖_F
 * averaged over the STFT settings (default `MULTISPECTRAL_STFTS`: n_fft 2048/1024/512, hop
 * 240/120/50, window 1200/600/240). Unnormalised: it grows with signal level and length (the
 * reference's training loss further divides by the bandwidth). 0 for identical signals.
 */
export function multiscaleSpectralDistance(reference: Float32Array, estimate: Float32Array, options?: MultiscaleSpectralOptions): number;
export function multiscaleSpectralDistance(reference: tf.Tensor, estimate: tf.Tensor, options?: MultiscaleSpectralOptions): tf.Tensor1D;
export function multiscaleSpectralDistance(reference: Audio, estimate: Audio, options: MultiscaleSpectralOptions = {}): number | tf.Tensor1D {
  const stfts = options.stfts ?? MULTISPECTRAL_STFTS;
  if (stfts.length === 0) throw new JukeboxError('multiscaleSpectralDistance: no STFT settings');
  return evaluate('multiscaleSpectralDistance', reference, estimate,
    (r, e) => tf.div(tf.addN(stfts.map((s) => spectrogramDistance(stftMagnitude(r, s), stftMagnitude(e, s)))), stfts.length),
    Math.max(...stfts.map(stftMinLength)));
}

/**
 * Signal-to-noise ratio in dB: 10·log10(Σ ref² / Σ (ref − est)²), no mean removal or scaling.
 * +Infinity when the error is exactly zero (identical signals, silent or not); −Infinity for a
 * silent reference with a non-silent estimate. Higher is better.
 */
export function snrDb(reference: Float32Array, estimate: Float32Array): number;
export function snrDb(reference: tf.Tensor, estimate: tf.Tensor): tf.Tensor1D;
export function snrDb(reference: Audio, estimate: Audio): number | tf.Tensor1D {
  return evaluate('snrDb', reference, estimate, snrImpl);
}

/**
 * Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019, "SDR – half-baked or well
 * done?"): both signals made zero-mean, est projected onto ref with α = ⟨est, ref⟩ / ‖ref‖², then
 * 10·log10(‖α·ref‖² / ‖α·ref − est‖²). Invariant to the estimate's gain (α·est gives the same
 * value for α > 0; a negative gain flips the sign of the projection and gives the same value too).
 * +Infinity when the residual is exactly zero (est = ref, or an exact multiple that float32
 * represents exactly, e.g. 2·ref); NaN when the zero-mean reference is all zeros (undefined).
 * Higher is better.
 */
export function siSdrDb(reference: Float32Array, estimate: Float32Array): number;
export function siSdrDb(reference: tf.Tensor, estimate: tf.Tensor): tf.Tensor1D;
export function siSdrDb(reference: Audio, estimate: Audio): number | tf.Tensor1D {
  return evaluate('siSdrDb', reference, estimate, siSdrImpl);
}

/**
 * Log-spectral distance in dB: the mean over STFT frames of
 * sqrt(mean over bins of (10·log10(P_ref / P_est))²), with power spectra P = |S|² + eps
 * (eps = 1e-10 by default, i.e. a −100 dB floor for silent bins) and the default STFT (n_fft
 * 2048, hop 256, window 1536, 1025 bins including DC and Nyquist). 0 for identical signals.
 * Dominated by the quietest bins when one signal is far below the other there; bins near the
 * eps floor are also where float32 rounding shows most.
 */
export function logSpectralDistanceDb(reference: Float32Array, estimate: Float32Array, options?: LogSpectralDistanceOptions): number;
export function logSpectralDistanceDb(reference: tf.Tensor, estimate: tf.Tensor, options?: LogSpectralDistanceOptions): tf.Tensor1D;
export function logSpectralDistanceDb(reference: Audio, estimate: Audio, options: LogSpectralDistanceOptions = {}): number | tf.Tensor1D {
  const s = options.stft ?? DEFAULT_STFT;
  return evaluate('logSpectralDistanceDb', reference, estimate,
    (r, e) => lsdFromMagnitudes(stftMagnitude(r, s), stftMagnitude(e, s), options.eps ?? LOG_SPECTRAL_DISTANCE_EPS), stftMinLength(s));
}

/**
 * Mel-spectrogram L1 distance: mean over frames and mel bands of
 * |ln(mel_ref + eps) − ln(mel_est + eps)|, natural log, on mel *power* (|STFT|² through a
 * Slaney mel filterbank, librosa's defaults: htk=False, norm='slaney', 128 bands, fmin 0,
 * fmax sampleRate/2; default STFT n_fft 2048 / hop 256 / window 1536) and eps = 1e-5.
 * Natural-log units: multiply by 10/ln 10 ≈ 4.343 for a mean absolute difference in dB (where
 * both are above the floor). 0 for identical signals.
 */
export function melL1(reference: Float32Array, estimate: Float32Array, sampleRate: number, options?: MelL1Options): number;
export function melL1(reference: tf.Tensor, estimate: tf.Tensor, sampleRate: number, options?: MelL1Options): tf.Tensor1D;
export function melL1(reference: Audio, estimate: Audio, sampleRate: number, options: MelL1Options = {}): number | tf.Tensor1D {
  const s = options.stft ?? DEFAULT_STFT;
  return evaluate('melL1', reference, estimate,
    (r, e) => melL1FromMagnitudes(stftMagnitude(r, s), stftMagnitude(e, s), sampleRate, options), stftMinLength(s));
}

// ---------------------------------------------------------------------------------------------
// Per-level comparison.
// ---------------------------------------------------------------------------------------------

/** All metrics of one reconstruction against the reference; snake_case as written to metrics.json. */
export interface ReconstructionMetrics {
  /** Index in the `reconstructions` array (Jukebox's level numbering: 0 = bottom, finest). */
  level: number;
  /** `spectralConvergenceLinear`. */
  spectral_convergence: number;
  /** `spectralConvergenceDb`. */
  spectral_convergence_db: number;
  /** `multiscaleSpectralDistance`. */
  multiscale_spectral_distance: number;
  /** `snrDb`. */
  snr_db: number;
  /** `siSdrDb`. */
  si_sdr_db: number;
  /** `logSpectralDistanceDb`. */
  log_spectral_distance_db: number;
  /** `melL1`. */
  mel_l1: number;
}

/**
 * Every metric of each reconstruction against the reference, with each metric's defaults (as the
 * single-metric functions; `sampleRate` is for the mel filterbank only). Decoded audio can be a
 * few samples longer or shorter than its input, so all signals (the reference and every
 * reconstruction) are cut to the length of the shortest one and the metrics compare samples
 * 0 … common − 1; every level is then compared over the same span. The common length must exceed
 * 1024 samples (n_fft / 2 of the largest STFT).
 *
 * The reference's spectrograms are computed once and reused; each reconstruction is analysed in
 * its own tidy, so memory is bounded by one reconstruction's spectrograms. Returns one entry per
 * reconstruction, in order (an empty array for none).
 */
export function compareReconstruction(reference: Float32Array, reconstructions: Float32Array[], sampleRate: number): ReconstructionMetrics[] {
  if (!(reference instanceof Float32Array) || !reconstructions.every((x) => x instanceof Float32Array)) {
    throw new JukeboxError('compareReconstruction: the reference and the reconstructions must be Float32Arrays');
  }
  if (!(sampleRate > 0)) throw new JukeboxError(`compareReconstruction: sample rate must be positive, got ${sampleRate}`);
  if (reconstructions.length === 0) return [];
  const n = Math.min(reference.length, ...reconstructions.map((x) => x.length));
  const settings = [DEFAULT_STFT, ...MULTISPECTRAL_STFTS];
  const minLength = Math.max(...settings.map(stftMinLength));
  if (n < minLength) {
    throw new JukeboxError(`compareReconstruction: the common length is ${n} samples (reference ${reference.length}, reconstructions ${reconstructions.map((x) => x.length).join(', ')}); need at least ${minLength}`);
  }
  // The reference, its default-STFT magnitude and its multi-scale magnitudes, kept across levels.
  const refKept = tf.tidy(() => {
    const r = tf.tensor2d(reference.subarray(0, n), [1, n]);
    return [r, ...settings.map((s) => stftMagnitude(r, s))];
  });
  try {
    const [r, magRef, ...multiRef] = refKept as [tf.Tensor2D, tf.Tensor3D, ...tf.Tensor3D[]];
    return reconstructions.map((rec, level) => {
      const values = tf.tidy(() => {
        const e = tf.tensor2d(rec.subarray(0, n), [1, n]);
        const magEst = stftMagnitude(e, DEFAULT_STFT);
        const sc = convergence(magRef, magEst, SPECTRAL_CONVERGENCE_EPSILON);
        const msd = tf.div(tf.addN(MULTISPECTRAL_STFTS.map((s, i) => spectrogramDistance(multiRef[i], stftMagnitude(e, s)))), MULTISPECTRAL_STFTS.length);
        return tf.concat([
          sc,
          scDbFromLinear(sc),
          msd,
          snrImpl(r, e),
          siSdrImpl(r, e),
          lsdFromMagnitudes(magRef, magEst, LOG_SPECTRAL_DISTANCE_EPS),
          melL1FromMagnitudes(magRef, magEst, sampleRate, {}),
        ].map((t) => t.reshape([1])));
      });
      try {
        const v = values.dataSync();
        return {
          level,
          spectral_convergence: v[0],
          spectral_convergence_db: v[1],
          multiscale_spectral_distance: v[2],
          snr_db: v[3],
          si_sdr_db: v[4],
          log_spectral_distance_db: v[5],
          mel_l1: v[6],
        };
      } finally {
        values.dispose();
      }
    });
  } finally {
    tf.dispose(refKept);
  }
}
