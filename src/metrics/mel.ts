import * as tf from '@tensorflow/tfjs';
import { JukeboxError } from '../errors';
import { DEFAULT_STFT, STFTSettings, stftMagnitude } from './stft';

/*
 * Mel scale and filterbank as librosa's defaults (`librosa.filters.mel(..., htk=False,
 * norm='slaney')`): the Slaney / Auditory Toolbox scale, linear (200/3 Hz per mel) below 1 kHz and
 * logarithmic (27 mels per factor 6.4) above, triangular filters normalised to equal area
 * (2 / bandwidth in Hz).
 */
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27;

/** Hz → mels on the Slaney scale (librosa's `hz_to_mel(f, htk=False)`). */
export function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOGSTEP : hz / F_SP;
}

/** Mels → Hz on the Slaney scale (librosa's `mel_to_hz(m, htk=False)`). */
export function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/**
 * `n` frequencies (Hz) evenly spaced in mels from `fmin` to `fmax` inclusive (librosa's
 * `mel_frequencies`). A filterbank of `nMels` bands uses `nMels + 2` of them as band edges.
 */
export function melFrequencies(n: number, fmin: number, fmax: number): Float64Array {
  const lo = hzToMel(fmin);
  const hi = hzToMel(fmax);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = melToHz(n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1));
  return out;
}

/** Centre frequencies (Hz) of the `nMels` bands of `melFilterbank(…, nMels, fmin, fmax)`: for plot axes. */
export function melBandCenters(nMels: number, fmin: number, fmax: number): Float64Array {
  return melFrequencies(nMels + 2, fmin, fmax).slice(1, nMels + 1);
}

function checkMelArgs(sampleRate: number, nFft: number, nMels: number, fmin: number, fmax: number): void {
  if (!(sampleRate > 0)) throw new JukeboxError(`mel filterbank: sample rate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(nFft) || nFft < 2) throw new JukeboxError(`mel filterbank: n_fft must be an integer ≥ 2, got ${nFft}`);
  if (!Number.isInteger(nMels) || nMels < 1) throw new JukeboxError(`mel filterbank: n_mels must be a positive integer, got ${nMels}`);
  if (!(fmin >= 0 && fmax > fmin)) throw new JukeboxError(`mel filterbank: need 0 ≤ fmin < fmax, got fmin ${fmin}, fmax ${fmax}`);
}

/**
 * Slaney-style mel filterbank, as `librosa.filters.mel(sr=sampleRate, n_fft=nFft, n_mels=nMels,
 * fmin=fmin, fmax=fmax)` with its defaults (htk=False, norm='slaney'): row-major
 * `[nMels × (floor(nFft / 2) + 1)]` float32 weights, computed in float64. Multiply a power
 * spectrogram `[frames, bins]` by its transpose to get mel power `[frames, nMels]`. Bands narrower
 * than one FFT bin come out all zero, as librosa's (which warns about them).
 */
export function melFilterbank(sampleRate: number, nFft: number, nMels = 128, fmin = 0, fmax = sampleRate / 2): Float32Array {
  checkMelArgs(sampleRate, nFft, nMels, fmin, fmax);
  const bins = Math.floor(nFft / 2) + 1;
  const edges = melFrequencies(nMels + 2, fmin, fmax);
  const weights = new Float32Array(nMels * bins);
  for (let m = 0; m < nMels; m++) {
    const [lo, mid, hi] = [edges[m], edges[m + 1], edges[m + 2]];
    const enorm = 2 / (hi - lo);
    for (let k = 0; k < bins; k++) {
      const f = (k * sampleRate) / 2 / (bins - 1); // np.linspace(0, sr / 2, bins)
      const lower = (f - lo) / (mid - lo);
      const upper = (hi - f) / (hi - mid);
      weights[m * bins + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return weights;
}

/** Transposed filterbanks `[bins × nMels]` (the matmul operand), by parameters; plain arrays, no tensors. */
const transposedBanks = new Map<string, Float32Array>();

function transposedFilterbank(sampleRate: number, nFft: number, nMels: number, fmin: number, fmax: number): Float32Array {
  const key = `${sampleRate}/${nFft}/${nMels}/${fmin}/${fmax}`;
  let bank = transposedBanks.get(key);
  if (bank === undefined) {
    const w = melFilterbank(sampleRate, nFft, nMels, fmin, fmax);
    const bins = Math.floor(nFft / 2) + 1;
    bank = new Float32Array(w.length);
    for (let m = 0; m < nMels; m++) for (let k = 0; k < bins; k++) bank[k * nMels + m] = w[m * bins + k];
    transposedBanks.set(key, bank);
  }
  return bank;
}

/** Mel analysis settings; every field has librosa's / the reference's default. */
export interface MelOptions {
  /** STFT framing; default `DEFAULT_STFT` (n_fft 2048, hop 256, window 1536), as the reference's spectral losses. */
  stft?: STFTSettings;
  /** Number of mel bands; default 128. */
  nMels?: number;
  /** Lowest band edge in Hz; default 0. */
  fmin?: number;
  /** Highest band edge in Hz; default sampleRate / 2. */
  fmax?: number;
}

/** Options of `logMelSpectrogram`: the mel settings plus librosa's `power_to_db` arguments. */
export interface LogMelOptions extends MelOptions {
  /** Power floor before the log (librosa's `amin`); default 1e-10. */
  amin?: number;
  /** Values below (item maximum − topDb) dB are raised to it; default 80, `null` for no clipping. */
  topDb?: number | null;
}

/**
 * Mel power spectrogram from a power spectrogram `[B, frames, bins]` → `[B, frames, nMels]`.
 * Not in a tidy of its own: callers are.
 */
export function melFromPower(power: tf.Tensor3D, sampleRate: number, options: MelOptions = {}): tf.Tensor3D {
  const nFft = (options.stft ?? DEFAULT_STFT).nFft;
  const nMels = options.nMels ?? 128;
  const fmin = options.fmin ?? 0;
  const fmax = options.fmax ?? sampleRate / 2;
  const bank = transposedFilterbank(sampleRate, nFft, nMels, fmin, fmax);
  const [batch, frames, bins] = power.shape;
  if (bins !== Math.floor(nFft / 2) + 1) throw new JukeboxError(`mel: spectrogram has ${bins} bins, n_fft ${nFft} needs ${Math.floor(nFft / 2) + 1}`);
  const mel = tf.matMul(power.reshape([batch * frames, bins]) as tf.Tensor2D, tf.tensor2d(bank, [bins, nMels]));
  return mel.reshape([batch, frames, nMels]);
}

/**
 * Audio tensor `[T]` → `[1, T]`, `[B, T]` as is, cast to float32; anything else is a JukeboxError
 * naming `what`. Not in a tidy of its own: callers are. (Shared with audio-metrics.ts.)
 */
export function asBatch(x: tf.Tensor, what: string): tf.Tensor2D {
  if (x.rank !== 1 && x.rank !== 2) throw new JukeboxError(`${what}: expected audio of shape [T] or [B, T], got [${x.shape.join(', ')}]`);
  const y = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  return (x.rank === 1 ? y.reshape([1, x.shape[0]]) : y) as tf.Tensor2D;
}

function checkLength(length: number, s: STFTSettings, what: string): void {
  if (length <= s.nFft / 2) throw new JukeboxError(`${what}: ${length} samples is too short for an STFT with n_fft ${s.nFft} (need more than ${s.nFft / 2})`);
}

/**
 * Mel power spectrogram: `|STFT(x)|²` (`stftMagnitude`, torch.stft-compatible framing) times the
 * Slaney mel filterbank, as `librosa.feature.melspectrogram(power=2)` but with the reference's STFT
 * framing. `x` `[B, T]` or `[T]` → `[B, frames, nMels]` (B = 1 for `[T]`), frames = floor(T / hop) + 1.
 */
export function melSpectrogram(x: tf.Tensor, sampleRate: number, options: MelOptions = {}): tf.Tensor3D {
  return tf.tidy(() => {
    const s = options.stft ?? DEFAULT_STFT;
    const audio = asBatch(x, 'melSpectrogram');
    checkLength(audio.shape[1], s, 'melSpectrogram');
    return melFromPower(tf.square(stftMagnitude(audio, s)), sampleRate, options);
  });
}

/** A log-mel spectrogram of one signal, ready to plot. */
export interface LogMelSpectrogram {
  /** dB values, row-major `[frames, nMels]` (frame-major: row f is frame f, low bands first). */
  db: Float32Array;
  frames: number;
  nMels: number;
  /** Time (s) at the centre of each frame: f · hop / sampleRate (frames are centred, as torch.stft's). */
  times: Float64Array;
  /** Centre frequency (Hz) of each mel band. */
  frequencies: Float64Array;
}

/**
 * Log-mel spectrogram in dB, as `librosa.power_to_db(melspectrogram, ref=1.0, amin, top_db)`:
 * 10·log10(max(amin, mel power)), then raised to at least (its maximum − topDb), the maximum taken
 * per item. Mel power as `melSpectrogram`.
 *
 * - `Float32Array` (one signal) → a `LogMelSpectrogram` (plain arrays: values `[frames, nMels]`,
 *   frame times and band centre frequencies), for plots.
 * - `tf.Tensor` `[B, T]` or `[T]` → `tf.Tensor3D` `[B, frames, nMels]`, created in a tidy.
 */
export function logMelSpectrogram(x: Float32Array, sampleRate: number, options?: LogMelOptions): LogMelSpectrogram;
export function logMelSpectrogram(x: tf.Tensor, sampleRate: number, options?: LogMelOptions): tf.Tensor3D;
export function logMelSpectrogram(x: Float32Array | tf.Tensor, sampleRate: number, options: LogMelOptions = {}): LogMelSpectrogram | tf.Tensor3D {
  const amin = options.amin ?? 1e-10;
  const topDb = options.topDb === undefined ? 80 : options.topDb;
  if (!(amin > 0)) throw new JukeboxError(`logMelSpectrogram: amin must be positive, got ${amin}`);
  if (topDb !== null && !(topDb >= 0)) throw new JukeboxError(`logMelSpectrogram: topDb must be ≥ 0 or null, got ${topDb}`);
  const compute = (audio: tf.Tensor): tf.Tensor3D =>
    tf.tidy(() => {
      const mel = melSpectrogram(audio, sampleRate, options);
      const db = tf.mul(tf.log(tf.maximum(mel, amin)), 10 / Math.LN10) as tf.Tensor3D;
      if (topDb === null) return db;
      return tf.maximum(db, tf.sub(tf.max(db, [1, 2], true), topDb)) as tf.Tensor3D;
    });
  if (x instanceof tf.Tensor) return compute(x);
  if (!(x instanceof Float32Array)) throw new JukeboxError('logMelSpectrogram: expected a Float32Array or a tf.Tensor');
  const s = options.stft ?? DEFAULT_STFT;
  const out = tf.tidy(() => compute(tf.tensor1d(x)));
  try {
    const [, frames, nMels] = out.shape;
    const times = new Float64Array(frames);
    for (let f = 0; f < frames; f++) times[f] = (f * s.hopLength) / sampleRate;
    const db = new Float32Array(out.dataSync()); // a copy: some backends hand out their own buffer
    return { db, frames, nMels, times, frequencies: melBandCenters(nMels, options.fmin ?? 0, options.fmax ?? sampleRate / 2) };
  } finally {
    out.dispose();
  }
}
