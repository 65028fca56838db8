import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import {
  compareReconstruction,
  logSpectralDistanceDb,
  melL1,
  multiscaleSpectralDistance,
  siSdrDb,
  snrDb,
  spectralConvergence,
  spectralConvergenceDb,
  spectralConvergenceLinear,
} from '../../src/metrics';
import { musicLike, tensorLeak, useBackend } from '../helpers';
import { METRIC_KEYS } from './fixture';

const SR = 16000;
const T = 4000;

/** Deterministic uniform noise in [−0.5, 0.5). */
function noise(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return new Float32Array(length).map(() => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

function sine(length: number, hz: number, amplitude = 0.5): Float32Array {
  return new Float32Array(length).map((_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / SR));
}

const energy = (x: ArrayLike<number>) => Array.from(x).reduce((s, v) => s + v * v, 0);
const scale = (x: Float32Array, k: number) => x.map((v) => v * k);
const add = (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]);

/** ref + noise scaled (in float64) to exactly `snr` dB below it. */
function atSnr(ref: Float32Array, snr: number, seed: number): Float32Array {
  const n = noise(ref.length, seed);
  return add(ref, scale(n, Math.sqrt(energy(ref) / energy(n) / 10 ** (snr / 10))));
}

const ref = musicLike(T, SR, 3);
const est = add(ref, scale(noise(T, 9), 0.05));

beforeAll(async () => {
  await useBackend();
});

describe('hand-checkable cases', () => {
  it('identical signals: SNR and SI-SDR +Infinity, SC 0 (−Infinity dB), every distance 0', () => {
    const copy = ref.slice();
    expect(snrDb(ref, copy)).toBe(Infinity);
    expect(siSdrDb(ref, copy)).toBe(Infinity);
    expect(spectralConvergenceLinear(ref, copy)).toBe(0);
    expect(spectralConvergenceDb(ref, copy)).toBe(-Infinity);
    expect(multiscaleSpectralDistance(ref, copy)).toBe(0);
    expect(logSpectralDistanceDb(ref, copy)).toBe(0);
    expect(melL1(ref, copy, SR)).toBe(0);
    const [row] = compareReconstruction(ref, [copy], SR);
    expect(row).toEqual({
      level: 0, spectral_convergence: 0, spectral_convergence_db: -Infinity, multiscale_spectral_distance: 0,
      snr_db: Infinity, si_sdr_db: Infinity, log_spectral_distance_db: 0, mel_l1: 0,
    });
  });

  it('silent signals: SNR +Infinity when both are silent, −Infinity for a silent reference; SC 0 (reference epsilon); SI-SDR NaN', () => {
    const silent = new Float32Array(T);
    expect(snrDb(silent, silent.slice())).toBe(Infinity);
    expect(snrDb(silent, est)).toBe(-Infinity);
    expect(spectralConvergenceLinear(silent, est)).toBe(0);
    expect(siSdrDb(silent, est)).toBeNaN();
    expect(siSdrDb(new Float32Array(T).fill(0.25), est)).toBeNaN(); // zero after mean removal
  });

  it('known SNR: noise added at 20 dB and at −3 dB', () => {
    const x = sine(T, 440);
    expect(snrDb(x, atSnr(x, 20, 5))).toBeCloseTo(20, 3);
    expect(snrDb(x, atSnr(x, -3, 6))).toBeCloseTo(-3, 3);
    // A silent estimate is all error: 0 dB. Twice the reference is an error as large as it: 0 dB.
    expect(snrDb(x, new Float32Array(T))).toBe(0);
    expect(snrDb(x, scale(x, 2))).toBe(0);
  });

  it('SI-SDR: invariant to the gain (and sign) of the estimate and to DC offsets; ≈ SNR for zero-mean uncorrelated noise', () => {
    const base = siSdrDb(ref, est);
    for (const k of [0.01, 0.37, 3, -2]) expect(siSdrDb(ref, scale(est, k))).toBeCloseTo(base, 3);
    expect(siSdrDb(ref, est.map((v) => v + 0.1))).toBeCloseTo(base, 3);
    expect(siSdrDb(ref.map((v) => v - 0.2), est)).toBeCloseTo(base, 3);
    expect(siSdrDb(ref, scale(ref, 2))).toBe(Infinity); // an exact multiple
    // SNR is not invariant: halving the estimate costs ~6 dB of SNR here.
    expect(snrDb(ref, scale(ref, 0.5))).toBeCloseTo(10 * Math.log10(4), 4);
    const x = sine(T, 440);
    expect(Math.abs(siSdrDb(x, atSnr(x, 20, 5)) - 20)).toBeLessThan(0.2);
  });

  it('spectral convergence: ‖S − 2S‖ / ‖S‖ = 1 for a doubled estimate (0 dB); dB = 20·log10(linear)', () => {
    expect(spectralConvergenceLinear(ref, scale(ref, 2))).toBeCloseTo(1, 5);
    expect(spectralConvergenceDb(ref, scale(ref, 2))).toBeCloseTo(0, 4);
    const lin = spectralConvergenceLinear(ref, est);
    expect(spectralConvergenceDb(ref, est)).toBeCloseTo(20 * Math.log10(lin), 4);
  });

  it("spectral convergence is spectral.ts's spectralConvergence (the training metric)", () => {
    const r = tf.tensor2d(ref, [1, T]);
    const e = tf.tensor2d(est, [1, T]);
    const training = spectralConvergence(r, e);
    expect(spectralConvergenceLinear(ref, est)).toBe(training.dataSync()[0]);
    tf.dispose([r, e, training]);
  });

  it('log-spectral distance: a uniform gain g shifts every bin by 20·log10(g) dB (far above the eps floor)', () => {
    const x = scale(noise(T, 4), 2); // white noise: every bin far above 1e-10
    expect(logSpectralDistanceDb(x, scale(x, 0.5))).toBeCloseTo(20 * Math.log10(2), 3);
    expect(logSpectralDistanceDb(scale(x, 0.1), x)).toBeCloseTo(20, 3);
    // Bins at the floor in both (silent stretches of the music-like signal) count as 0 dB apart.
    expect(logSpectralDistanceDb(ref, scale(ref, 0.5))).toBeLessThan(20 * Math.log10(2));
  });

  it('mel L1: a uniform gain g is |ln g²| per band (far above the eps floor)', () => {
    const x = scale(noise(T, 4), 4); // white noise: every band well above 1e-5
    expect(melL1(x, scale(x, 0.5), SR)).toBeCloseTo(Math.log(4), 3);
  });

  it('metrics order a light and a heavy corruption the right way', () => {
    const light = atSnr(ref, 30, 11);
    const heavy = atSnr(ref, 5, 12);
    expect(snrDb(ref, light)).toBeGreaterThan(snrDb(ref, heavy));
    expect(siSdrDb(ref, light)).toBeGreaterThan(siSdrDb(ref, heavy));
    expect(spectralConvergenceLinear(ref, light)).toBeLessThan(spectralConvergenceLinear(ref, heavy));
    expect(multiscaleSpectralDistance(ref, light)).toBeLessThan(multiscaleSpectralDistance(ref, heavy));
    expect(logSpectralDistanceDb(ref, light)).toBeLessThan(logSpectralDistanceDb(ref, heavy));
    expect(melL1(ref, light, SR)).toBeLessThan(melL1(ref, heavy, SR));
  });
});

describe('entry points', () => {
  const others = [atSnr(ref, 10, 21), atSnr(ref, 0, 22), est];

  const pairs: [string, (r: Float32Array, e: Float32Array) => number, (r: tf.Tensor, e: tf.Tensor) => tf.Tensor1D][] = [
    ['spectralConvergenceLinear', (r, e) => spectralConvergenceLinear(r, e), (r, e) => spectralConvergenceLinear(r, e)],
    ['spectralConvergenceDb', (r, e) => spectralConvergenceDb(r, e), (r, e) => spectralConvergenceDb(r, e)],
    ['multiscaleSpectralDistance', (r, e) => multiscaleSpectralDistance(r, e), (r, e) => multiscaleSpectralDistance(r, e)],
    ['snrDb', (r, e) => snrDb(r, e), (r, e) => snrDb(r, e)],
    ['siSdrDb', (r, e) => siSdrDb(r, e), (r, e) => siSdrDb(r, e)],
    ['logSpectralDistanceDb', (r, e) => logSpectralDistanceDb(r, e), (r, e) => logSpectralDistanceDb(r, e)],
    ['melL1', (r, e) => melL1(r, e, SR), (r, e) => melL1(r, e, SR)],
  ];

  for (const [name, onArrays, onTensors] of pairs) {
    it(`${name}: [B, T] tensors give per-item values equal to the Float32Array ones; [T] gives [1]`, () => {
      const r = tf.stack(others.map(() => tf.tensor1d(ref)));
      const e = tf.stack(others.map((x) => tf.tensor1d(x)));
      const batch = onTensors(r, e);
      expect(batch.shape).toEqual([others.length]);
      expect(batch.dtype).toBe('float32');
      const values = batch.dataSync();
      others.forEach((x, i) => {
        const single = onArrays(ref, x);
        expect(Math.abs(values[i] - single)).toBeLessThanOrEqual(1e-5 * Math.abs(single));
      });
      const r1 = tf.tensor1d(ref);
      const e1 = tf.tensor1d(others[0]);
      const one = onTensors(r1, e1);
      expect(one.shape).toEqual([1]);
      expect(Math.abs(one.dataSync()[0] - values[0])).toBeLessThanOrEqual(1e-5 * Math.abs(values[0]));
      tf.dispose([r, e, batch, r1, e1, one]);
    });
  }

  it('no entry point leaks tensors, also when it throws', async () => {
    const r = tf.tensor2d(ref, [1, T]);
    const e = tf.tensor2d(est, [1, T]);
    const short = tf.tensor1d(ref.subarray(0, 600));
    for (const [, onArrays] of pairs) onArrays(ref, est); // warm the STFT basis cache
    for (const [name, onArrays, onTensors] of pairs) {
      expect(await tensorLeak(() => onArrays(ref, est)), name).toBe(0);
      expect(await tensorLeak(() => tf.dispose(onTensors(r, e))), name).toBe(0);
      if (name !== 'snrDb' && name !== 'siSdrDb') {
        expect(await tensorLeak(() => expect(() => onTensors(short, short)).toThrow(JukeboxError)), name).toBe(0);
      }
    }
    expect(await tensorLeak(() => compareReconstruction(ref, [est, atSnr(ref, 3, 1)], SR))).toBe(0);
    expect(await tensorLeak(() => expect(() => compareReconstruction(ref, [ref.subarray(0, 700)], SR)).toThrow(JukeboxError))).toBe(0);
    tf.dispose([r, e, short]);
  });

  it('rejects mismatched shapes, mixed kinds, other ranks and too-short signals with JukeboxError', () => {
    expect(() => snrDb(ref, est.subarray(1))).toThrow(/differ in length/);
    const a = tf.zeros([2, 1200]);
    const b = tf.zeros([1, 1200]);
    const c = tf.zeros([2, 3, 1200]);
    expect(() => snrDb(a, b)).toThrow(/differ in shape/);
    expect(() => snrDb(c, c)).toThrow(/\[T\] or \[B, T\]/);
    expect(() => snrDb(ref as unknown as tf.Tensor, a)).toThrow(/both be Float32Arrays or both tf.Tensors/);
    expect(() => spectralConvergenceLinear(ref.subarray(0, 1024), est.subarray(0, 1024))).toThrow(/too short/);
    expect(() => multiscaleSpectralDistance(ref.subarray(0, 1024), est.subarray(0, 1024))).toThrow(JukeboxError);
    expect(spectralConvergenceLinear(ref.subarray(0, 1025), est.subarray(0, 1025))).toBeGreaterThan(0);
    expect(() => snrDb(new Float32Array(0), new Float32Array(0))).toThrow(/too short/);
    tf.dispose([a, b, c]);
  });
});

describe('compareReconstruction', () => {
  it('compares every level over the common length and equals the single metrics there', () => {
    const levels = [atSnr(ref, 25, 31), atSnr(ref, 12, 32).subarray(0, T - 4), new Float32Array([...atSnr(ref, 3, 33), 0.3, -0.2, 0.1])];
    const rows = compareReconstruction(ref, levels, SR);
    const n = T - 4;
    const r = ref.subarray(0, n);
    rows.forEach((row, level) => {
      const e = levels[level].subarray(0, n);
      const single: Record<string, number> = {
        spectral_convergence: spectralConvergenceLinear(r, e),
        spectral_convergence_db: spectralConvergenceDb(r, e),
        multiscale_spectral_distance: multiscaleSpectralDistance(r, e),
        snr_db: snrDb(r, e),
        si_sdr_db: siSdrDb(r, e),
        log_spectral_distance_db: logSpectralDistanceDb(r, e),
        mel_l1: melL1(r, e, SR),
      };
      expect(row.level).toBe(level);
      for (const key of METRIC_KEYS) expect(Math.abs(row[key] - single[key]), `${level} ${key}`).toBeLessThanOrEqual(1e-6 * Math.abs(single[key]));
    });
    expect(rows[0].snr_db).toBeCloseTo(25, 1); // the extra samples and the cut barely move the SNR
  });

  it('returns [] for no reconstructions and rejects a too-short common length or bad input', () => {
    expect(compareReconstruction(ref, [], SR)).toEqual([]);
    expect(() => compareReconstruction(ref, [est.subarray(0, 1000)], SR)).toThrow(/common length is 1000/);
    expect(() => compareReconstruction(ref, [est], 0)).toThrow(JukeboxError);
    expect(() => compareReconstruction(ref, [Array.from(est) as unknown as Float32Array], SR)).toThrow(JukeboxError);
  });

  it('gives JSON-ready snake_case rows (infinities become null in JSON)', () => {
    const [row] = compareReconstruction(ref, [est], SR);
    const parsed = JSON.parse(JSON.stringify(row));
    expect(Object.keys(parsed)).toEqual(['level', ...METRIC_KEYS]);
    for (const key of METRIC_KEYS) expect(Number.isFinite(parsed[key])).toBe(true);
  });
});
