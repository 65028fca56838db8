import { readFileSync } from 'fs';
import { join } from 'path';
import { describe, expect, it } from 'vitest';
import { Labeller, readLabelIdTables, type SongMetadata } from '../../src/labels';

// Label rows made by openai/jukebox's own Labeller and SimplePrior.get_y on the invented tables in
// test/fixtures/labels/tables (test/fixtures/labels/make_labels.py).
interface Case {
  name: string;
  version: 'v2' | 'v3';
  nTokens: number;
  maxBowGenreSize: number;
  sampleLength: number;
  rawToTokens: number;
  sr: number;
  metas: SongMetadata[];
  y: number[][];
  lyrics: string[];
  fullTokens: number[][];
  windows: { start: number; y: number[][]; indices: number[][] | null }[];
  float32Start?: number | null;
}
const fixture = JSON.parse(readFileSync(join(__dirname, '../fixtures/labels/labels_reference.json'), 'utf8')) as { cases: Case[] };
const TABLES = join(__dirname, '../fixtures/labels/tables');

function labellerFor(c: Case, warnings: string[]): Labeller {
  return new Labeller({
    maxBowGenreSize: c.maxBowGenreSize, nTokens: c.nTokens, sampleLength: c.sampleLength, v3: c.version === 'v3', sr: c.sr,
    tables: readLabelIdTables(TABLES, c.version), warn: (m) => warnings.push(m),
  });
}

describe('Labeller equals the reference Labeller and get_y', () => {
  it('covers v2 and v3, unknown names, bag-of-words genres, padding, long lyrics, late windows', () => {
    expect(fixture.cases.map((c) => c.version)).toEqual(['v2', 'v3', 'v2', 'v3']);
    // The late case holds a window whose lyric midpoint differs between float64 and float32.
    expect(fixture.cases[2].float32Start).toBeGreaterThan(0);
  });

  for (const c of fixture.cases) {
    it(`${c.name}: song rows`, () => {
      const warnings: string[] = [];
      const labels = labellerFor(c, warnings).getBatchLabels(c.metas);
      expect(labels.y.map((r) => Array.from(r))).toEqual(c.y);
      if (c.nTokens > 0) {
        expect(labels.info.map((i) => i.lyrics)).toEqual(c.lyrics);
        expect(labels.info.map((i) => i.fullTokens)).toEqual(c.fullTokens);
      }
    });

    it(`${c.name}: window rows and lyric indices at starts ${c.windows.map((w) => w.start).join(', ')}`, () => {
      const labeller = labellerFor(c, []);
      const labels = labeller.getBatchLabels(c.metas);
      for (const w of c.windows) {
        const got = labeller.yForWindow(labels, w.start, c.rawToTokens);
        expect(got.y.map((r) => Array.from(r)), `start ${w.start}`).toEqual(w.y);
        expect(got.indices, `start ${w.start}`).toEqual(w.indices ?? c.metas.map(() => []));
      }
      // Rows of the song itself are untouched by windowing.
      expect(labels.y.map((r) => Array.from(r))).toEqual(c.y);
    });
  }

  it('each batch item keeps its own lyrics in every window (the HF port used row 0 for all)', () => {
    const c = fixture.cases[0];
    const labeller = labellerFor(c, []);
    const got = labeller.yForWindow(labeller.getBatchLabels(c.metas), 4096, c.rawToTokens);
    const lyricRows = got.y.map((r) => Array.from(r.subarray(4 + c.maxBowGenreSize)).join(','));
    expect(new Set(lyricRows).size).toBe(c.metas.length);
  });
});
