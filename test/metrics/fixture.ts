import * as path from 'path';
import { readSafetensors } from '../../src/checkpoint/safetensors';

/**
 * test/fixtures/metrics/metrics.safetensors, written by make_metrics_fixtures.py: int16 test
 * signals and the metric values numpy/torch computed from them in float64.
 */
const fx = readSafetensors(path.join(__dirname, '..', 'fixtures', 'metrics', 'metrics.safetensors'));

/** JSON has no infinities: the script writes them as strings. */
function revive(_key: string, value: unknown): unknown {
  return value === 'Infinity' ? Infinity : value === '-Infinity' ? -Infinity : value;
}

export const METRIC_KEYS = [
  'spectral_convergence',
  'spectral_convergence_db',
  'multiscale_spectral_distance',
  'snr_db',
  'si_sdr_db',
  'log_spectral_distance_db',
  'mel_l1',
] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

export const settings = JSON.parse(fx.metadata.settings) as { sample_rate: number; length: number; lsd_eps: number; mel_eps: number; n_mels: number };
export const expected = JSON.parse(fx.metadata.expected, revive) as Record<string, Record<MetricKey, number>>;
export const expectedCompare = JSON.parse(fx.metadata.compare, revive) as ({ level: number } & Record<MetricKey, number>)[];
export const CASES = Object.keys(expected);

/** An int16 signal of the fixture as float32 (value / 32768, exact). */
export function pcm(name: string): Float32Array {
  const t = fx.tensors.get(name);
  if (t === undefined || t.dtype !== 'I16') throw new Error(`fixture has no int16 tensor ${name}`);
  return Float32Array.from(t.data as Int16Array, (v) => v / 32768);
}

export function f32(name: string): { data: Float32Array; shape: number[] } {
  const t = fx.tensors.get(name)!;
  return { data: t.data as Float32Array, shape: t.shape };
}

export function i32(name: string): Int32Array {
  return fx.tensors.get(name)!.data as Int32Array;
}

export function relErr(got: number, want: number): number {
  return Math.abs(got - want) / Math.abs(want);
}
