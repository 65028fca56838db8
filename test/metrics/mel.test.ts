import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { JukeboxError } from '../../src/errors';
import { DEFAULT_STFT, hzToMel, logMelSpectrogram, melBandCenters, melFilterbank, melSpectrogram, melToHz } from '../../src/metrics';
import { tensorLeak, useBackend } from '../helpers';
import { f32, i32, pcm, settings } from './fixture';

beforeAll(async () => {
  await useBackend();
});

describe('Slaney mel scale and filterbank (librosa defaults)', () => {
  it('has the Slaney scale: linear 200/3 Hz per mel to 1 kHz (15 mels), 27 mels per factor 6.4 above', () => {
    expect(hzToMel(0)).toBe(0);
    expect(hzToMel(200 / 3)).toBeCloseTo(1, 12);
    expect(hzToMel(1000)).toBeCloseTo(15, 12);
    expect(hzToMel(6400)).toBeCloseTo(15 + 27, 12);
    for (const hz of [0, 50, 440, 999.9, 1000, 4000, 11025, 22050]) expect(melToHz(hzToMel(hz))).toBeCloseTo(hz, 8);
  });

  it('matches the fixture filterbank for sr 8000, n_fft 128, 16 mels, fmin 60, fmax 3500 entry by entry', () => {
    const want = f32('melfb_small');
    expect(want.shape).toEqual([16, 65]);
    const got = melFilterbank(8000, 128, 16, 60, 3500);
    expect(got.length).toBe(16 * 65);
    let maxWeight = 0;
    for (const v of want.data) maxWeight = Math.max(maxWeight, v);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want.data[i]), `entry ${i}`).toBeLessThan(1e-6 * maxWeight);
  });

  it('matches the default filterbank (sr 22050, n_fft 2048, 128 mels): row sums and 64 probed weights', () => {
    const fb = melFilterbank(settings.sample_rate, 2048, 128);
    const bins = 1025;
    expect(fb.length).toBe(128 * bins);
    const rowsum = f32('melfb_rowsum').data;
    for (let m = 0; m < 128; m++) {
      let s = 0;
      for (let k = 0; k < bins; k++) s += fb[m * bins + k];
      expect(Math.abs(s - rowsum[m]) / rowsum[m], `row ${m}`).toBeLessThan(1e-5);
    }
    const index = i32('melfb_probe_index');
    const probe = f32('melfb_probe').data;
    for (let i = 0; i < probe.length; i++) {
      const [m, k] = [index[2 * i], index[2 * i + 1]];
      expect(Math.abs(fb[m * bins + k] - probe[i]), `(${m}, ${k})`).toBeLessThanOrEqual(1e-6 * Math.abs(probe[i]) + 1e-12);
    }
  });

  it('is non-negative, triangular, and rejects bad arguments', () => {
    const fb = melFilterbank(44100, 2048, 128);
    expect(fb.every((v) => v >= 0)).toBe(true);
    for (let m = 0; m < 128; m++) {
      const row = Array.from(fb.subarray(m * 1025, (m + 1) * 1025));
      const peak = row.indexOf(Math.max(...row));
      expect(row[peak], `band ${m} is empty`).toBeGreaterThan(0);
      const rising = row.slice(1, peak + 1).every((v, k) => v >= row[k]);
      const falling = row.slice(peak + 1).every((v, k) => v <= row[peak + k]);
      expect(rising && falling, `band ${m} is not triangular`).toBe(true);
    }
    expect(melBandCenters(128, 0, 22050)).toHaveLength(128);
    expect(() => melFilterbank(0, 2048)).toThrow(JukeboxError);
    expect(() => melFilterbank(44100, 2048, 0)).toThrow(JukeboxError);
    expect(() => melFilterbank(44100, 2048, 128, 5000, 1000)).toThrow(JukeboxError);
  });
});

describe('logMelSpectrogram', () => {
  const sr = settings.sample_rate;

  it("matches numpy's power_to_db(mel) (ref 1, amin 1e-10, top_db 80) within 1e-3 dB", () => {
    const want = f32('logmel_music');
    const got = logMelSpectrogram(pcm('ref_music'), sr);
    expect([got.frames, got.nMels]).toEqual(want.shape);
    expect(got.frames).toBe(Math.floor(settings.length / DEFAULT_STFT.hopLength) + 1);
    let worst = 0;
    for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.db[i] - want.data[i]));
    expect(worst).toBeLessThan(1e-3);
    expect(got.times[1]).toBeCloseTo(DEFAULT_STFT.hopLength / sr, 12);
    expect(got.frequencies).toEqual(melBandCenters(128, 0, sr / 2));
  });

  it('clips at max − topDb, and not with topDb null', () => {
    const x = pcm('ref_tones');
    const clipped = logMelSpectrogram(x, sr, { topDb: 20 });
    const raw = logMelSpectrogram(x, sr, { topDb: null });
    const max = Math.max(...raw.db);
    expect(Math.min(...raw.db)).toBeLessThan(max - 20);
    expect(Math.max(...clipped.db)).toBeCloseTo(max, 4);
    expect(Math.min(...clipped.db)).toBeCloseTo(max - 20, 4);
  });

  it('tensor entry point: [B, T] → [B, frames, nMels] equal to the array one per item; [T] → [1, …]', () => {
    const a = pcm('ref_music');
    const b = pcm('ref_chirp');
    const batch = tf.stack([tf.tensor1d(a), tf.tensor1d(b)]);
    const out = logMelSpectrogram(batch, sr, { nMels: 64 });
    expect(out.shape).toEqual([2, 11, 64]);
    const values = out.dataSync();
    [a, b].forEach((x, item) => {
      const single = logMelSpectrogram(x, sr, { nMels: 64 }).db;
      for (let i = 0; i < single.length; i++) expect(Math.abs(values[item * single.length + i] - single[i])).toBeLessThan(1e-3);
    });
    const one = tf.tensor1d(a);
    const out1 = logMelSpectrogram(one, sr);
    expect(out1.shape).toEqual([1, 11, 128]);
    tf.dispose([batch, out, one, out1]);
  });

  it('puts a 1 kHz tone in the band centred nearest 1 kHz', () => {
    const x = new Float32Array(8192).map((_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
    const spec = logMelSpectrogram(x, 16000, { nMels: 40 });
    const frame = 10 * spec.nMels;
    let best = 0;
    for (let m = 1; m < spec.nMels; m++) if (spec.db[frame + m] > spec.db[frame + best]) best = m;
    const centres = Array.from(spec.frequencies);
    const nearest = centres.reduce((bi, f, i) => (Math.abs(f - 1000) < Math.abs(centres[bi] - 1000) ? i : bi), 0);
    expect(Math.abs(best - nearest)).toBeLessThanOrEqual(1);
  });

  it('melSpectrogram and logMelSpectrogram leak no tensors', async () => {
    const x = pcm('ref_music');
    logMelSpectrogram(x, sr); // warm the STFT basis cache
    expect(await tensorLeak(() => logMelSpectrogram(x, sr))).toBe(0);
    const t = tf.tensor1d(x);
    expect(await tensorLeak(() => tf.dispose(logMelSpectrogram(t, sr)))).toBe(0);
    expect(await tensorLeak(() => tf.dispose(melSpectrogram(t, sr)))).toBe(0);
    const short = t.slice(0, 100);
    expect(await tensorLeak(() => expect(() => logMelSpectrogram(short, sr)).toThrow(JukeboxError))).toBe(0);
    tf.dispose([t, short]);
  });
});
