import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  compareReconstruction,
  logSpectralDistanceDb,
  melL1,
  multiscaleSpectralDistance,
  siSdrDb,
  snrDb,
  spectralConvergenceDb,
  spectralConvergenceLinear,
} from '../../src/metrics';
import { useBackend } from '../helpers';
import { CASES, expected, expectedCompare, METRIC_KEYS, MetricKey, pcm, relErr, settings } from './fixture';

/**
 * Agreement with make_metrics_fixtures.py, which computes every metric from its formula in
 * float64 numpy (torch.stft for the spectrograms, its own librosa-formula mel filterbank). The
 * TypeScript side is float32; measured worst relative errors are ~1e-5 on the wasm backend and
 * ~5e-7 on the cpu backend, so 1e-4 leaves a margin.
 */
const TOLERANCE = 1e-4;
const sr = settings.sample_rate;

type ArrayMetric = (r: Float32Array, e: Float32Array) => number;
type TensorMetric = (r: tf.Tensor, e: tf.Tensor) => tf.Tensor1D;

const arrayMetrics: Record<MetricKey, ArrayMetric> = {
  spectral_convergence: (r, e) => spectralConvergenceLinear(r, e),
  spectral_convergence_db: (r, e) => spectralConvergenceDb(r, e),
  multiscale_spectral_distance: (r, e) => multiscaleSpectralDistance(r, e),
  snr_db: (r, e) => snrDb(r, e),
  si_sdr_db: (r, e) => siSdrDb(r, e),
  log_spectral_distance_db: (r, e) => logSpectralDistanceDb(r, e),
  mel_l1: (r, e) => melL1(r, e, sr),
};

const tensorMetrics: Record<MetricKey, TensorMetric> = {
  spectral_convergence: (r, e) => spectralConvergenceLinear(r, e),
  spectral_convergence_db: (r, e) => spectralConvergenceDb(r, e),
  multiscale_spectral_distance: (r, e) => multiscaleSpectralDistance(r, e),
  snr_db: (r, e) => snrDb(r, e),
  si_sdr_db: (r, e) => siSdrDb(r, e),
  log_spectral_distance_db: (r, e) => logSpectralDistanceDb(r, e),
  mel_l1: (r, e) => melL1(r, e, sr),
};

beforeAll(async () => {
  await useBackend();
});

describe('metrics agree with the independent numpy/torch implementation', () => {
  it('has the four fixture cases', () => {
    expect(CASES).toEqual(['tones', 'noise', 'chirp', 'music']);
    for (const c of CASES) expect(pcm(`ref_${c}`).length).toBe(settings.length);
  });

  for (const key of METRIC_KEYS) {
    it(`${key}: Float32Array entry point, every case within ${TOLERANCE} relative`, () => {
      for (const c of CASES) {
        const got = arrayMetrics[key](pcm(`ref_${c}`), pcm(`est_${c}`));
        expect(relErr(got, expected[c][key]), `${c}: got ${got}, numpy ${expected[c][key]}`).toBeLessThan(TOLERANCE);
      }
    });

    it(`${key}: tensor entry point on a [4, T] batch, per item within ${TOLERANCE} relative`, () => {
      const T = settings.length;
      const stack = (prefix: string) => {
        const data = new Float32Array(CASES.length * T);
        CASES.forEach((c, i) => data.set(pcm(`${prefix}_${c}`), i * T));
        return tf.tensor2d(data, [CASES.length, T]);
      };
      const r = stack('ref');
      const e = stack('est');
      const out = tensorMetrics[key](r, e);
      expect(out.shape).toEqual([CASES.length]);
      const values = out.dataSync();
      tf.dispose([r, e, out]);
      CASES.forEach((c, i) => expect(relErr(values[i], expected[c][key]), c).toBeLessThan(TOLERANCE));
    });
  }

  it('compareReconstruction matches numpy per level, over the common length (reference 2600, levels 2600 / 2597 / 2605)', () => {
    const levels = [pcm('est_music'), pcm('level1'), pcm('level2')];
    expect(levels.map((x) => x.length)).toEqual([2600, 2597, 2605]);
    const got = compareReconstruction(pcm('ref_music'), levels, sr);
    expect(got).toHaveLength(3);
    got.forEach((row, level) => {
      expect(Object.keys(row).sort()).toEqual(['level', ...METRIC_KEYS].sort());
      expect(row.level).toBe(level);
      expect(expectedCompare[level].level).toBe(level);
      for (const key of METRIC_KEYS) {
        expect(relErr(row[key], expectedCompare[level][key]), `level ${level} ${key}: got ${row[key]}, numpy ${expectedCompare[level][key]}`).toBeLessThan(TOLERANCE);
      }
    });
    // Coarser levels are worse on every metric, as built.
    for (let l = 1; l < 3; l++) {
      expect(got[l].spectral_convergence).toBeGreaterThan(got[l - 1].spectral_convergence);
      expect(got[l].snr_db).toBeLessThan(got[l - 1].snr_db);
      expect(got[l].mel_l1).toBeGreaterThan(got[l - 1].mel_l1);
    }
  });

  it('the known-SNR case of the fixture is at 20 dB', () => {
    expect(Math.abs(expected.tones.snr_db - 20)).toBeLessThan(1e-3);
    expect(Math.abs(snrDb(pcm('ref_tones'), pcm('est_tones')) - 20)).toBeLessThan(1e-3);
  });
});
