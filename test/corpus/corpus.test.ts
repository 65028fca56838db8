import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planSong, writeCorpus } from '../../data/corpus/corpus';
import type { Sidecar } from '../../data/corpus/corpus';
import { ARTISTS, GENRES, corpusLabelTables } from '../../data/corpus/tables';
import { readWavMono } from '../../src/audio/wav';
import type { Prior } from '../../src/prior/prior';
import { labelTablesFromSongs } from '../../src/train/prior-data';
import { ArtistGenreProcessor, TextProcessor, labelTablesFromMetadata, labelTablesToMetadata, readLabelIdTables } from '../../src/labels';
import { tempDir } from '../helpers';

const SECONDS = 12;
const SONGS = 3;
const work = tempDir('jukebox-corpus-');
const dirA = path.join(work.dir, 'a');
const dirB = path.join(work.dir, 'b');
const dirOther = path.join(work.dir, 'other');
const stemsA = path.join(work.dir, 'a-stems');
const stemsB = path.join(work.dir, 'b-stems');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

function sidecars(dir: string): { name: string; side: Sidecar }[] {
  return files(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: f.slice(0, -5), side: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Sidecar }));
}

/**
 * Word onsets in a vocal stem by energy: 5 ms frames, an onset where the RMS rises above 0.3%
 * (-50 dB) of the loudest frame after at least 30 ms below it. Weak openings ("th", "f") stay
 * under 1% for tens of milliseconds; between words the stem is silent, so a low threshold is safe.
 */
function energyOnsets(x: Float32Array, sr: number): number[] {
  const hop = Math.round(0.005 * sr);
  const rms: number[] = [];
  for (let i = 0; i + hop <= x.length; i += hop) {
    let s = 0;
    for (let j = i; j < i + hop; j++) s += x[j] * x[j];
    rms.push(Math.sqrt(s / hop));
  }
  const threshold = 0.003 * Math.max(...rms);
  const onsets: number[] = [];
  let quiet = Infinity;
  rms.forEach((r, k) => {
    if (r > threshold) {
      if (quiet >= 6) onsets.push((k * hop) / sr);
      quiet = 0;
    } else quiet++;
  });
  return onsets;
}

/** Fundamental of x[a, a + n) by normalised autocorrelation (first peak within 10% of the best). */
function pitchHz(x: Float32Array, sr: number, a: number, n: number): number {
  const r: number[] = [];
  const lo = Math.floor(sr / 1000);
  const hi = Math.ceil(sr / 60);
  for (let lag = lo; lag <= hi; lag++) {
    let s = 0;
    let e1 = 0;
    let e2 = 0;
    for (let i = a; i < a + n; i++) {
      s += x[i] * x[i + lag];
      e1 += x[i] * x[i];
      e2 += x[i + lag] * x[i + lag];
    }
    r[lag] = s / Math.sqrt(e1 * e2 + 1e-12);
  }
  const best = Math.max(...r.slice(lo));
  for (let lag = lo + 1; lag < hi; lag++) {
    if (r[lag] > 0.9 * best && r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) {
      const d = (r[lag - 1] - r[lag + 1]) / (2 * (r[lag - 1] - 2 * r[lag] + r[lag + 1]));
      return sr / (lag + d);
    }
  }
  return NaN;
}

beforeAll(async () => {
  await writeCorpus({ songs: SONGS, seed: 7, seconds: SECONDS, sampleRate: 22050, out: dirA, stems: stemsA });
  await writeCorpus({ songs: SONGS, seed: 7, seconds: SECONDS, sampleRate: 22050, out: dirB, stems: stemsB });
  await writeCorpus({ songs: SONGS, seed: 8, seconds: SECONDS, sampleRate: 16000, out: dirOther });
});

afterAll(() => work.cleanup());

describe('generated corpus', () => {
  it('is byte-identical for the same seed', () => {
    const names = files(dirA);
    expect(names).toEqual(files(dirB));
    expect(names.filter((f) => f.endsWith('.wav'))).toHaveLength(SONGS);
    for (const f of names) expect(fs.readFileSync(path.join(dirA, f)).equals(fs.readFileSync(path.join(dirB, f))), f).toBe(true);
    const stems = files(stemsA);
    expect(stems).toEqual(names.filter((f) => f.endsWith('.wav')));
    for (const f of stems) expect(fs.readFileSync(path.join(stemsA, f)).equals(fs.readFileSync(path.join(stemsB, f))), f).toBe(true);
  });

  it('gives other songs and lyrics for another seed, and no two songs share lyrics', () => {
    const all = [...sidecars(dirA), ...sidecars(dirOther)];
    expect(new Set(all.map((s) => s.side.lyrics)).size).toBe(all.length);
    const wavA = files(dirA).filter((f) => f.endsWith('.wav'));
    const wavOther = files(dirOther).filter((f) => f.endsWith('.wav'));
    for (const a of wavA) for (const b of wavOther) expect(fs.readFileSync(path.join(dirA, a)).equals(fs.readFileSync(path.join(dirOther, b)))).toBe(false);
  });

  it('refuses a stems folder inside the corpus folder, which would be read as songs', async () => {
    const out = path.join(work.dir, 'refused');
    await expect(writeCorpus({ songs: 1, seed: 1, seconds: SECONDS, sampleRate: 22050, out, stems: path.join(out, 'stems') })).rejects.toThrow(
      /stems folder must be outside the corpus folder/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it('writes the sample rate asked for', () => {
    for (const { name, side } of sidecars(dirOther)) {
      const wav = readWavMono(path.join(dirOther, `${name}.wav`));
      expect(wav.sampleRate).toBe(16000);
      expect(side.sample_rate).toBe(16000);
      expect(wav.samples.length).toBe(SECONDS * 16000);
    }
  });

  it('writes sidecars whose words spell the lyrics, in order, inside the song', () => {
    for (const { name, side } of [...sidecars(dirA), ...sidecars(dirOther)]) {
      expect(Object.keys(side).sort()).toEqual(['artist', 'bpm', 'genre', 'index', 'key', 'lyrics', 'sample_rate', 'seconds', 'seed', 'words']);
      expect(side.words.length, name).toBeGreaterThan(4);
      expect(side.words.map((w) => w.word)).toEqual(side.lyrics.split(/\s+/));
      let previousEnd = 0;
      for (const w of side.words) {
        expect(Object.keys(w).sort()).toEqual(['end', 'note', 'start', 'word']);
        expect(w.start).toBeGreaterThanOrEqual(previousEnd);
        expect(w.end).toBeGreaterThan(w.start);
        expect(w.end).toBeLessThanOrEqual(side.seconds);
        previousEnd = w.end;
      }
    }
  });

  it('uses only characters both lyric vocabularies keep', () => {
    for (const { side } of [...sidecars(dirA), ...sidecars(dirOther)]) {
      for (const version of ['v2', 'v3'] as const) {
        const warnings: string[] = [];
        expect(new TextProcessor(version).clean(side.lyrics, (m) => warnings.push(m))).toBe(side.lyrics);
        expect(warnings).toEqual([]);
      }
    }
  });

  it('draws artists and genres from the tables it writes, which the label readers accept', () => {
    const tables = corpusLabelTables();
    expect(tables.artists.get('unknown')).toBe(0);
    expect(tables.genres.get('unknown')).toBe(0);
    expect(new Set(tables.artists.values()).size).toBe(ARTISTS.length + 1);
    expect(new Set(tables.genres.values()).size).toBe(GENRES.length + 1);
    for (const version of ['v2', 'v3'] as const) {
      const read = readLabelIdTables(path.join(dirA, 'label_ids'), version);
      expect(read.artists).toEqual(tables.artists);
      expect(read.genres).toEqual(tables.genres);
      const warnings: string[] = [];
      const processor = new ArtistGenreProcessor(version, read, (m) => warnings.push(m));
      for (const { side } of [...sidecars(dirA), ...sidecars(dirOther)]) {
        expect(processor.artistId(side.artist)).toBe(tables.artists.get(side.artist));
        expect(processor.genreIds(side.genre)).toEqual([tables.genres.get(side.genre)]);
        expect(ARTISTS.find((a) => a.name === side.artist)!.genres).toContain(side.genre);
      }
      expect(warnings).toEqual([]);
    }
  });

  it('gives every artist a turn in any eight consecutive songs', () => {
    for (const seed of [0, 7, 123456]) {
      const artists = Array.from({ length: ARTISTS.length }, (_, i) => planSong(seed, i + 3, 30).artist.name);
      expect(new Set(artists).size).toBe(ARTISTS.length);
    }
  });

  it('numbers names as train-prior numbers a data folder holding them all', () => {
    const metas = ARTISTS.flatMap((a) => a.genres.map((genre) => ({ artist: a.name, genre, lyrics: '' })));
    for (const labels_v3 of [false, true]) {
      // labelTablesFromSongs reads only the label edition and the embedding sizes of the prior.
      const prior = { config: { labels_v3, y_bins: [64, 64] } } as unknown as Prior;
      const fromData = labelTablesFromSongs(metas, prior, 'test');
      expect(fromData.artists).toEqual(corpusLabelTables().artists);
      expect(fromData.genres).toEqual(corpusLabelTables().genres);
    }
  });

  it('sings at least one line in the shortest songs', () => {
    for (let i = 0; i < 40; i++) expect(planSong(9, i, 5).sung.length).toBeGreaterThan(0);
  });

  it('carries its tables through a checkpoint\'s metadata', () => {
    const tables = corpusLabelTables();
    const back = labelTablesFromMetadata(labelTablesToMetadata(tables, 'v3'), 'prior.safetensors', 'v3');
    expect(back!.tables.artists).toEqual(tables.artists);
    expect(back!.tables.genres).toEqual(tables.genres);
  });

  it('sings each word where the sidecar says: stem onsets within 30 ms of the stated starts', () => {
    for (const { name, side } of sidecars(dirA)) {
      const stem = readWavMono(path.join(stemsA, `${name}.wav`));
      const onsets = energyOnsets(stem.samples, stem.sampleRate);
      for (const w of side.words) {
        const nearest = Math.min(...onsets.map((o) => Math.abs(o - w.start)));
        expect(nearest, `${name} "${w.word}" at ${w.start}`).toBeLessThan(0.03);
      }
      // Stops inside a word may add an onset; most onsets are still word starts.
      expect(onsets.length).toBeLessThanOrEqual(Math.ceil(side.words.length * 1.25));
    }
  });

  it('sings on the melody notes (within 30 cents for nine words in ten)', () => {
    let inTune = 0;
    let total = 0;
    for (const { name, side } of sidecars(dirA)) {
      const stem = readWavMono(path.join(stemsA, `${name}.wav`));
      const sr = stem.sampleRate;
      for (const w of side.words) {
        // The vowel: 40% into the word, 30 ms.
        const hz = pitchHz(stem.samples, sr, Math.round((w.start + 0.4 * (w.end - w.start)) * sr), Math.round(0.03 * sr));
        const cents = 1200 * Math.log2(hz / (440 * 2 ** ((w.note - 69) / 12)));
        if (Math.abs(cents) < 30) inTune++;
        total++;
      }
    }
    expect(inTune / total).toBeGreaterThanOrEqual(0.9);
  });

  it('times words irregularly: spreading them evenly over the sung span misses by far', () => {
    const relative: number[] = [];
    for (const { name, side } of [...sidecars(dirA), ...sidecars(dirOther)]) {
      const w = side.words;
      const first = w[0].start;
      const spacing = (w[w.length - 1].end - first) / w.length;
      const meanError = w.reduce((s, x, i) => s + Math.abs(first + i * spacing - x.start), 0) / w.length;
      expect(meanError, name).toBeGreaterThan(0.1);
      relative.push(meanError / spacing);
    }
    // On average the even guess is off by over a quarter of the spacing between words.
    expect(relative.reduce((a, b) => a + b) / relative.length).toBeGreaterThan(0.25);
  });

  it('mixes the vocals clearly above the backing', () => {
    for (const { name, side } of sidecars(dirA)) {
      const mix = readWavMono(path.join(dirA, `${name}.wav`)).samples;
      const vocals = readWavMono(path.join(stemsA, `${name}.wav`)).samples;
      let sungVocal = 0;
      let sungBacking = 0;
      for (let i = 0; i < mix.length; i++) {
        if (vocals[i] === 0) continue;
        sungVocal += vocals[i] ** 2;
        sungBacking += (mix[i] - vocals[i]) ** 2;
      }
      expect(10 * Math.log10(sungVocal / sungBacking), `${name} (${side.artist})`).toBeGreaterThan(3);
    }
  });
});
