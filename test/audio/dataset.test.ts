import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { AudioDatasetOptions, AudioFolderDataset, MAX_OPEN_FILES, openAudio, openAudioAsync, writeWav } from '../../src/audio';
import { JukeboxError } from '../../src/errors';
import { Rng } from '../../src/rng';
import { tempDir } from './wav-bytes';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'audio');

const roots: { cleanup(): void }[] = [];
afterAll(() => roots.forEach((r) => r.cleanup()));

/** A fresh folder with the given files: mono arrays, or arrays per channel, at `rate`. */
async function folder(files: Record<string, Float32Array | Float32Array[] | Buffer>, rate = 8000): Promise<string> {
  const t = tempDir('dataset');
  roots.push(t);
  for (const [name, data] of Object.entries(files)) {
    const p = path.join(t.dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (Buffer.isBuffer(data)) fs.writeFileSync(p, data);
    else await writeWav(p, data, rate);
  }
  return t.dir;
}

const constant = (n: number, v: number) => new Float32Array(n).fill(v);
const wave = (n: number, seed = 0) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin(i * 0.05 + seed) + 0.2 * Math.sin(i * 0.31 + 2 * seed));

function collect(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

function open(dir: string, options: Partial<AudioDatasetOptions> = {}, warn?: (m: string) => void): AudioFolderDataset {
  return AudioFolderDataset.open(dir, { sampleRate: 8000, windowLength: 100, ...options }, warn ?? collect().warn);
}

function rows(batch: Float32Array, w: number): Float32Array[] {
  return Array.from({ length: batch.length / w }, (_, b) => batch.subarray(b * w, (b + 1) * w));
}

/** The value of a window that should be constant (asserting it is). */
function constantOf(row: Float32Array): number {
  for (let i = 1; i < row.length; i++) expect(row[i]).toBeCloseTo(row[0], 6);
  return row[0];
}

describe('AudioFolderDataset: files', () => {
  it('scans the folder recursively, in path order, ignoring other files; lengths and totals', async () => {
    const dir = await folder({
      'b.wav': wave(300),
      'a/z.wav': [wave(500), wave(500, 1)],
      'a/y.WAV': wave(250),
      'notes.txt': Buffer.from('not audio'),
      'c.wav.bak': Buffer.from('nor this'),
    });
    const ds = open(dir);
    expect(ds.files).toEqual([
      { path: path.join(dir, 'a', 'y.WAV'), length: 250, channels: 1 },
      { path: path.join(dir, 'a', 'z.wav'), length: 500, channels: 2 },
      { path: path.join(dir, 'b.wav'), length: 300, channels: 1 },
    ]);
    expect(ds.totalLength).toBe(1050);
    ds.close();
  });

  it('resamples: a 48 kHz file in a 22050 Hz dataset has the resampled length and samples', async () => {
    const x = wave(48000); // 1 s
    const dir = await folder({ 'hi.wav': x }, 48000);
    const ds = AudioFolderDataset.open(dir, { sampleRate: 22050, windowLength: 4096 });
    expect(ds.files[0].length).toBe(22050);
    expect(ds.totalLength).toBe(22050);
    const windows = [...ds.windows()];
    expect(windows.length).toBe(Math.floor(22050 / 4096));
    const ref = openAudio(path.join(dir, 'hi.wav'), 22050);
    windows.forEach((w, k) => expect(w).toEqual(ref.read(k * 4096, (k + 1) * 4096)));
    ref.close();
    ds.close();
  });

  it('skips a corrupt file and a too-short file with warnings naming them', async () => {
    const dir = await folder({
      'good.wav': wave(1000),
      'corrupt.wav': Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEjunk', 'latin1'),
      'short.wav': wave(99),
      'sub/renamed.wav': Buffer.from('hello, world'),
    });
    const { warn, messages } = collect();
    const ds = open(dir, {}, warn);
    expect(ds.files.map((f) => path.basename(f.path))).toEqual(['good.wav']);
    expect(messages.length).toBe(3);
    expect(messages[0]).toMatch(new RegExp(`^${escape(path.join(dir, 'corrupt.wav'))}: skipped: .*WAV`));
    expect(messages[1]).toBe(`${path.join(dir, 'short.wav')}: skipped: too short: 99 samples at 8000 Hz, shorter than one window of 100`);
    expect(messages[2]).toMatch(new RegExp(`^${escape(path.join(dir, 'sub', 'renamed.wav'))}: skipped: not a WAV file`));
    for (const m of messages) expect(m).not.toContain('\n');
    ds.close();
  });

  it('fails with a JukeboxError naming the folder when nothing is usable', async () => {
    const empty = await folder({ 'readme.txt': Buffer.from('x') });
    expect(() => open(empty)).toThrow(JukeboxError);
    expect(() => open(empty)).toThrow(`${empty}: no audio files found (looked for .wav, .wave, .flac, .mp3, .ogg, .oga, .opus, in subfolders too)`);
    const bad = await folder({ 'short.wav': wave(50), 'bad.wav': Buffer.from('nope') });
    const { warn, messages } = collect();
    expect(() => open(bad, {}, warn)).toThrow(`${bad}: no usable audio files: all 2 found were skipped`);
    expect(messages.length).toBe(2);
    const missing = path.join(bad, 'missing');
    expect(() => open(missing)).toThrow(new JukeboxError('no such directory', missing));
    expect(() => open(path.join(bad, 'short.wav'))).toThrow('is not a directory');
  });

  it('checks its options', async () => {
    const dir = await folder({ 'a.wav': wave(1000) });
    expect(() => open(dir, { windowLength: 0 })).toThrow(RangeError);
    expect(() => open(dir, { sampleRate: 44100.5 })).toThrow(RangeError);
    expect(() => open(dir, { gainDb: [0, -6] })).toThrow(RangeError);
    const ds = open(dir);
    expect(() => ds.sample(new Rng(1), 0)).toThrow(RangeError);
    ds.close();
    ds.close();
    expect(() => ds.sample(new Rng(1), 1)).toThrow('closed');
  });
});

describe('AudioFolderDataset.sample', () => {
  it('is reproducible from the rng state and consumes the rng deterministically', async () => {
    const dir = await folder({ 'a.wav': [wave(3000), wave(3000, 1)], 'b.wav': wave(1500, 2), 'c.wav': [wave(800, 3), wave(800, 4)] });
    const ds1 = open(dir);
    const ds2 = open(dir);
    const r1 = new Rng(42);
    const r2 = new Rng(42);
    const a = ds1.sample(r1, 8);
    const b = ds2.sample(r2, 8);
    expect(a.length).toBe(800);
    expect(b).toEqual(a);
    expect(r1.state).toEqual(r2.state);
    // Restoring the state mid-stream gives the same next batch.
    const saved = r1.state;
    const next = ds1.sample(r1, 4);
    expect(ds2.sample(new Rng(saved), 4)).toEqual(next);
    // Another seed gives other windows.
    expect(ds1.sample(new Rng(43), 8)).not.toEqual(a);
    ds1.close();
    ds2.close();
  });

  it('draws file, offset, mix, gain from the rng in the documented order', async () => {
    const left = wave(2000);
    const right = wave(2000, 5);
    const dir = await folder({ 's.wav': [left, right] });
    const ds = open(dir, { gainDb: [-6, 0] });
    const rng = new Rng(7);
    const mirror = new Rng(7);
    const batch = ds.sample(rng, 5);
    for (const row of rows(batch, 100)) {
      mirror.uniform(); // the file (only one here)
      const offset = mirror.int(2000 - 100 + 1);
      const m = mirror.uniform();
      const gain = 10 ** ((-6 + 6 * mirror.uniform()) / 20);
      for (let i = 0; i < 100; i++) {
        expect(row[i]).toBeCloseTo(gain * (m * left[offset + i] + (1 - m) * right[offset + i]), 6);
      }
    }
    expect(rng.state).toEqual(mirror.state);
    ds.close();
  });

  it('blends stereo: L = x, R = −x gives (2·mix − 1)·x, a different mix per window; blend: false gives 0', async () => {
    const x = constant(1000, 0.5);
    const neg = constant(1000, -0.5);
    const dir = await folder({ 'lr.wav': [x, neg] });
    const ds = open(dir, { gainDb: [0, 0] });
    const values = rows(ds.sample(new Rng(3), 16), 100).map(constantOf);
    for (const v of values) expect(Math.abs(v)).toBeLessThanOrEqual(0.5);
    expect(new Set(values.map((v) => v.toFixed(6))).size).toBe(16); // every window its own mix
    expect(Math.min(...values)).toBeLessThan(-0.1); // mixes on both sides of ½
    expect(Math.max(...values)).toBeGreaterThan(0.1);
    ds.close();

    const flat = open(dir, { gainDb: [0, 0], blend: false });
    const batch = flat.sample(new Rng(3), 16);
    expect(batch.every((v) => v === 0)).toBe(true);
    flat.close();
  });

  it('more than two channels: random convex weights; blend: false averages', async () => {
    const dir = await folder({ 'three.wav': [constant(500, 0.1), constant(500, 0.2), constant(500, 0.6)] });
    const ds = open(dir, { gainDb: [0, 0] });
    const values = rows(ds.sample(new Rng(5), 20), 100).map(constantOf);
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(0.1 - 1e-6);
      expect(v).toBeLessThanOrEqual(0.6 + 1e-6);
    }
    expect(new Set(values.map((v) => v.toFixed(6))).size).toBe(20);
    ds.close();
    const avg = open(dir, { gainDb: [0, 0], blend: false });
    for (const v of rows(avg.sample(new Rng(5), 4), 100).map(constantOf)) expect(v).toBeCloseTo(0.3, 6);
    avg.close();
  });

  it('gain: uniform in dB within [min, max]; [0, 0] leaves the signal alone', async () => {
    const dir = await folder({ 'one.wav': constant(1000, 0.5) });
    const ds = open(dir, { gainDb: [-6, 0] });
    const gainsDb = rows(ds.sample(new Rng(11), 400), 100).map((r) => 20 * Math.log10(constantOf(r) / 0.5));
    for (const g of gainsDb) {
      expect(g).toBeGreaterThanOrEqual(-6 - 1e-4);
      expect(g).toBeLessThanOrEqual(1e-4);
    }
    expect(Math.min(...gainsDb)).toBeLessThan(-5.8);
    expect(Math.max(...gainsDb)).toBeGreaterThan(-0.2);
    const mean = gainsDb.reduce((a, b) => a + b, 0) / gainsDb.length;
    expect(mean).toBeGreaterThan(-3.3); // uniform in dB: mean −3 (sd of the mean ≈ 0.09)
    expect(mean).toBeLessThan(-2.7);
    ds.close();

    // Defaults: blend on, gain in [-6, 0].
    const byDefault = open(dir);
    for (const r of rows(byDefault.sample(new Rng(1), 20), 100)) expect(constantOf(r)).toBeLessThanOrEqual(0.5);
    byDefault.close();

    const none = open(dir, { gainDb: [0, 0] });
    expect(none.sample(new Rng(11), 10).every((v) => v === 0.5)).toBe(true);
    none.close();
    const fixed = open(dir, { gainDb: [-20, -20] });
    for (const v of fixed.sample(new Rng(11), 3)) expect(v).toBeCloseTo(0.05, 7);
    fixed.close();
  });

  it('chooses files in proportion to their length, offsets within them', async () => {
    // Lengths 1 : 3, told apart by their values.
    const dir = await folder({ 'short.wav': constant(1000, 0.25), 'long.wav': constant(3000, 0.75) });
    const ds = open(dir, { gainDb: [0, 0] });
    const values = rows(ds.sample(new Rng(2024), 400), 100).map(constantOf);
    const short = values.filter((v) => v === 0.25).length;
    expect(values.filter((v) => v === 0.75).length).toBe(400 - short);
    // Binomial(400, 1/4): mean 100, sd 8.7; allow 4 sd.
    expect(short).toBeGreaterThan(65);
    expect(short).toBeLessThan(135);
    ds.close();
  });

  it('covers every offset, windows staying inside their file', async () => {
    // A ramp: a window's first value tells its offset.
    const ramp = Float32Array.from({ length: 300 }, (_, i) => i / 1024);
    const dir = await folder({ 'ramp.wav': ramp });
    const ds = open(dir, { gainDb: [0, 0] });
    const offsets = rows(ds.sample(new Rng(9), 2000), 100).map((r) => Math.round(r[0] * 1024));
    for (const o of offsets) {
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThanOrEqual(200);
    }
    expect(new Set(offsets).size).toBeGreaterThan(190); // nearly all 201 offsets in 2000 draws
    expect(offsets).toContain(0);
    expect(offsets).toContain(200);
    ds.close();
  });

  it('gives the same windows with files closed and reopened (more files than stay open)', async () => {
    const files: Record<string, Float32Array> = {};
    for (let i = 0; i < MAX_OPEN_FILES + 8; i++) files[`f${String(i).padStart(2, '0')}.wav`] = wave(200 + i * 10, i);
    const dir = await folder(files);
    const fresh = open(dir);
    const a = fresh.sample(new Rng(77), 64);
    fresh.close();
    const churned = open(dir);
    for (const _ of churned.windows()); // touches every file, evicting most
    churned.sample(new Rng(1), 100);
    expect(churned.sample(new Rng(77), 64)).toEqual(a);
    churned.close();
  });
});

describe('AudioFolderDataset.windows', () => {
  it('yields consecutive windows in file order, plain average, no augmentation, up to maxWindows', async () => {
    const l = wave(350);
    const r = wave(350, 1);
    const dir = await folder({ 'a.wav': [l, r], 'b.wav': constant(220, 0.3) });
    const ds = open(dir);
    const all = [...ds.windows()];
    expect(all.length).toBe(3 + 2);
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 100; i++) expect(all[k][i]).toBeCloseTo((l[k * 100 + i] + r[k * 100 + i]) / 2, 6);
    }
    expect(all[3].every((v) => Math.abs(v - 0.3) < 1e-7)).toBe(true);
    expect([...ds.windows(4)].length).toBe(4);
    expect([...ds.windows(0)].length).toBe(0);
    ds.close();
  });
});

describe('AudioFolderDataset with FLAC and MP3', () => {
  async function mixedFolder(): Promise<string> {
    const dir = await folder({ 'c.wav': wave(30000) }, 22050);
    fs.copyFileSync(path.join(FIXTURES, 'stereo-44100.flac'), path.join(dir, 'a.flac'));
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.copyFileSync(path.join(FIXTURES, 'mono-22050-id3.mp3'), path.join(dir, 'sub', 'b.mp3'));
    fs.writeFileSync(path.join(dir, 'broken.flac'), Buffer.concat([Buffer.from('fLaC', 'latin1'), Buffer.alloc(100, 3)]));
    return dir;
  }

  it('open (synchronous) skips them with a warning pointing to openAsync', async () => {
    const dir = await mixedFolder();
    const { warn, messages } = collect();
    const ds = AudioFolderDataset.open(dir, { sampleRate: 22050, windowLength: 1024 }, warn);
    expect(ds.files.map((f) => path.basename(f.path))).toEqual(['c.wav']);
    expect(messages).toContain(
      `${path.join(dir, 'a.flac')}: skipped: FLAC files are decoded asynchronously: open the dataset with AudioFolderDataset.openAsync to use them`,
    );
    expect(messages.length).toBe(3);
    ds.close();
  });

  it('openAsync reads all formats; compressed files go through temporary copies that close() deletes', async () => {
    const dir = await mixedFolder();
    const { warn, messages } = collect();
    const ds = await AudioFolderDataset.openAsync(dir, { sampleRate: 22050, windowLength: 1024 }, warn);
    expect(ds.files).toEqual([
      { path: path.join(dir, 'a.flac'), length: 5513, channels: 2 },
      { path: path.join(dir, 'c.wav'), length: 30000, channels: 1 },
      { path: path.join(dir, 'sub', 'b.mp3'), length: 11025, channels: 1 },
    ]);
    expect(messages.length).toBe(1);
    expect(messages[0]).toMatch(new RegExp(`^${escape(path.join(dir, 'broken.flac'))}: skipped: not a valid FLAC file`));

    // The FLAC's windows: the average of its resampled channels, i.e. openAudioAsync's mono (to rounding).
    const flacWindows = [...ds.windows(5)].slice(0, 5);
    const ref = await openAudioAsync(path.join(dir, 'a.flac'), 22050);
    for (let k = 0; k < 5; k++) {
      const expected = ref.read(k * 1024, (k + 1) * 1024);
      for (let i = 0; i < 1024; i++) expect(flacWindows[k][i]).toBeCloseTo(expected[i], 6);
    }
    ref.close();
    const batch = ds.sample(new Rng(1), 6);
    expect(batch.length).toBe(6 * 1024);
    expect(batch.every(Number.isFinite)).toBe(true);

    const copies = (ds as unknown as { tempDir: string }).tempDir;
    expect(fs.readdirSync(copies).length).toBe(2);
    ds.close();
    expect(fs.existsSync(copies)).toBe(false);
  });

  it('openAsync: too-short compressed files are skipped, and an all-bad folder fails', async () => {
    const dir = await folder({});
    fs.copyFileSync(path.join(FIXTURES, 'stereo-44100.mp3'), path.join(dir, 'x.mp3'));
    const { warn, messages } = collect();
    await expect(AudioFolderDataset.openAsync(dir, { sampleRate: 44100, windowLength: 20000 }, warn)).rejects.toThrow(
      `${dir}: no usable audio files: all 1 found were skipped`,
    );
    expect(messages).toEqual([`${path.join(dir, 'x.mp3')}: skipped: too short: 11025 samples at 44100 Hz, shorter than one window of 20000`]);
  });
});

describe('AudioFolderDataset with Ogg Vorbis and Ogg Opus', () => {
  it('openAsync picks up .ogg, .oga and .opus by their content; open skips them pointing to openAsync', async () => {
    const dir = await folder({ 'c.wav': wave(30000) }, 22050);
    fs.copyFileSync(path.join(FIXTURES, 'stereo-44100.ogg'), path.join(dir, 'a.ogg'));
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.copyFileSync(path.join(FIXTURES, 'stereo-48000.opus'), path.join(dir, 'sub', 'b.opus'));
    fs.copyFileSync(path.join(FIXTURES, 'stereo-48000.opus'), path.join(dir, 'sub', 'c.oga')); // Opus under a Vorbis name
    fs.writeFileSync(path.join(dir, 'cut.ogg'), fs.readFileSync(path.join(FIXTURES, 'stereo-44100.ogg')).subarray(0, 3000));

    const sync = collect();
    const plain = AudioFolderDataset.open(dir, { sampleRate: 22050, windowLength: 1024 }, sync.warn);
    expect(plain.files.map((f) => path.basename(f.path))).toEqual(['c.wav']);
    expect(sync.messages).toContain(
      `${path.join(dir, 'sub', 'b.opus')}: skipped: Ogg Opus files are decoded asynchronously: open the dataset with AudioFolderDataset.openAsync to use them`,
    );
    plain.close();

    const { warn, messages } = collect();
    const ds = await AudioFolderDataset.openAsync(dir, { sampleRate: 22050, windowLength: 1024 }, warn);
    // 0.25 s each: 11025 samples at 44.1 kHz, 12000 at 48 kHz, both 5513 at 22050 Hz.
    expect(ds.files).toEqual([
      { path: path.join(dir, 'a.ogg'), length: 5513, channels: 2 },
      { path: path.join(dir, 'c.wav'), length: 30000, channels: 1 },
      { path: path.join(dir, 'sub', 'b.opus'), length: 5513, channels: 2 },
      { path: path.join(dir, 'sub', 'c.oga'), length: 5513, channels: 2 },
    ]);
    expect(messages).toEqual([expect.stringMatching(new RegExp(`^${escape(path.join(dir, 'cut.ogg'))}: skipped: truncated Ogg file: `))]);

    // The Vorbis file's windows are openAudioAsync's mono of it (to the rounding of the float copy).
    const windows = [...ds.windows(5)].slice(0, 5);
    const ref = await openAudioAsync(path.join(dir, 'a.ogg'), 22050);
    for (let k = 0; k < 5; k++) {
      const expected = ref.read(k * 1024, (k + 1) * 1024);
      for (let i = 0; i < 1024; i++) expect(windows[k][i]).toBeCloseTo(expected[i], 6);
    }
    ref.close();
    ds.close();
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
