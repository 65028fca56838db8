import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { JukeboxError } from '../../src/errors';
import {
  closestNames, Labeller, labelTablesFromMetadata, labelTablesToMetadata, lyricVocabulary, normaliseLabelName, parseLabelIdTable,
  readLabelIdTables, resolveLabelIdTables, TextProcessor, type LabellerOptions, type SongMetadata,
} from '../../src/labels';

const TABLES = join(__dirname, '../fixtures/labels/tables');
const tmp = mkdtempSync(join(tmpdir(), 'labels-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SR = 44100;
// 1b_lyrics-like timing: min 17.84 s, max 600 s; window 6144 tokens × 128 samples ≈ 17.8 s.
function labeller(over: Partial<LabellerOptions> = {}, warnings: string[] = []): Labeller {
  return new Labeller({
    maxBowGenreSize: 5, nTokens: 16, sampleLength: 6144 * 128, v3: false, sr: SR, tables: readLabelIdTables(TABLES, 'v2'),
    minDuration: 17.84, maxDuration: 600, warn: (m) => warnings.push(m), ...over,
  });
}
const song = (over: Partial<SongMetadata> = {}): SongMetadata => ({
  artist: 'The Paper Lanterns', genre: 'blues', lyrics: 'hello', totalSeconds: 240, offsetSeconds: 0, ...over,
});
const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(JukeboxError);
    return (e as Error).message;
  }
  throw new Error('expected a JukeboxError');
};

describe('text processors', () => {
  it('have the reference vocabularies: n_vocab 80 (v2) and 79 (v3, no +) with <unk>, token = index + 1', () => {
    expect(lyricVocabulary('v2')).toHaveLength(79);
    expect(lyricVocabulary('v3')).toHaveLength(78);
    expect(lyricVocabulary('v3').includes('+')).toBe(false);
    const v2 = new TextProcessor('v2');
    expect(v2.nVocab).toBe(80);
    expect(new TextProcessor('v3').nVocab).toBe(79);
    expect(v2.tokenise('Az0+\n')).toEqual([1, 52, 53, 70, 79]);
    expect(v2.textise([0, 0, ...v2.tokenise('round trip')])).toBe('round trip');
  });

  it('fold, turn backslashes into newlines, drop the rest, and warn with what was dropped', () => {
    const warnings: string[] = [];
    const v3 = new TextProcessor('v3');
    expect(v3.clean('Café + crème\\brûlée & ½ 🎵🎵', (m) => warnings.push(m))).toBe('Cafe  creme\nbrulee   12 ');
    expect(warnings).toEqual(['lyrics: 5 characters outside the v3 lyrics vocabulary dropped: "+", "&", "½" (its "/"), "🎵" ×2']);
    warnings.length = 0;
    expect(v3.clean('all fine', (m) => warnings.push(m))).toBe('all fine');
    expect(warnings).toEqual([]);
  });
});

describe('artist and genre names', () => {
  it('v2 normalises to [a-z0-9_]', () => {
    expect(normaliseLabelName('  The Paper-Lanterns!! ')).toBe('the_paper_lanterns');
    expect(normaliseLabelName('Björn Alvar')).toBe('bj_rn_alvar');
    expect(closestNames('mira_solen', ['dj_kato', 'mira_solenne', 'mira_solene'], 2)).toEqual(['mira_solene', 'mira_solenne']);
  });

  it('unknown names map to id 0 and warn with the closest known names, once per batch', () => {
    const warnings: string[] = [];
    const l = labeller({}, warnings);
    const meta = song({ artist: 'Mira Solen', genre: 'Blues Polka' });
    const { y } = l.getBatchLabels([meta, meta]);
    expect(Array.from(y[0].subarray(3, 9))).toEqual([0, 1, 0, -1, -1, -1]);
    expect(warnings).toEqual([
      `artist "Mira Solen" (as "mira_solen") is not in the v2 artist table (${join(TABLES, 'v2_artist_ids.txt')}); using id 0 (unknown). Closest known: "mira_solene", "mira_solenne", "unknown"`,
      `genre "Blues Polka" (word "polka") is not in the v2 genre table (${join(TABLES, 'v2_genre_ids.txt')}); using id 0 (unknown). Closest known: "folk", "pop", "rock"`,
    ]);
  });

  it('v3 lowercases, one genre; the LRM line is its own key, as the reference reads it', () => {
    const tables = readLabelIdTables(TABLES, 'v3');
    expect(tables.genres.get('jazz fusion\u200e')).toBe(3);
    expect(tables.genres.get('jazz fusion')).toBe(5);
    expect(tables.artists.get('orchestra of the nine winds ')).toBe(6); // name keeps its inner trailing space
    const warnings: string[] = [];
    const l = labeller({ v3: true, maxBowGenreSize: 1, tables }, warnings);
    const { y } = l.getBatchLabels([song({ artist: 'ANDRÉA VOSS', genre: 'Jazz Fusion' }), song({ artist: 'Kato & The Rain', genre: 'jazz fusion\u200e' })]);
    expect([y[0][3], y[0][4], y[1][3], y[1][4]]).toEqual([3, 5, 4, 3]);
    l.getBatchLabels([song({ genre: 'jazz fusio' })]);
    expect(warnings.at(-1)).toMatch(/^genre "jazz fusio" is not in the v3 genre table .*Closest known: "jazz fusion", "jazz fusion<U\+200E>", /);
  });

  it('numeric ids always work, without tables; names without tables say how to get them', () => {
    const l = labeller({ tables: null });
    const { y } = l.getBatchLabels([song({ artist: undefined, genre: 'ignored', artistId: 7, genreId: [2, 3] })]);
    expect(Array.from(y[0].subarray(3, 9))).toEqual([7, 2, 3, -1, -1, -1]);
    expect(message(() => l.getBatchLabels([song()]))).toBe(
      'artist "The Paper Lanterns" needs the v2 label id tables (v2_artist_ids.txt, v2_genre_ids.txt): pass --label-ids DIR or set JUKEBOX_LABEL_IDS, or give --artist-id N',
    );
    expect(message(() => l.getBatchLabels([song({ artistId: 1.5 })]))).toBe('artist id must be a whole number ≥ 0, got 1.5');
    expect(message(() => labeller().getBatchLabels([song({ genre: 'a b c d e f' })]))).toBe('genre "a b c d e f" gives 6 genre ids; this prior takes 1 to 5');
  });

  it('missing names mean id 0, with a warning', () => {
    const warnings: string[] = [];
    const { y } = labeller({}, warnings).getBatchLabels([{ lyrics: '', totalSeconds: 60, offsetSeconds: 0 }]);
    expect(Array.from(y[0].subarray(3, 5))).toEqual([0, 0]);
    expect(warnings).toEqual(['no artist given: using artist id 0 (unknown)', 'no genre given: using genre id 0 (unknown)']);
  });

  it('warns on stderr by default', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      labeller({ warn: undefined }).getBatchLabels([song({ lyrics: 'a & b' })]);
      expect(spy).toHaveBeenCalledWith('warning: lyrics: 1 character outside the v2 lyrics vocabulary dropped: "&"');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('timing in seconds', () => {
  it('converts seconds to samples with sr', () => {
    const { y } = labeller().getBatchLabels([song({ totalSeconds: 240, offsetSeconds: 12.5 })]);
    expect(Array.from(y[0].subarray(0, 3))).toEqual([240 * SR, 12.5 * SR, 6144 * 128]);
  });

  it('a total length or window outside the prior range is an error in seconds, not the reference assert', () => {
    const l = labeller();
    expect(message(() => l.getBatchLabels([song({ totalSeconds: 700 })]))).toBe("total length 700 s is outside this prior's range 17.84–600 s");
    expect(message(() => l.getBatchLabels([song({ totalSeconds: 10 })]))).toBe("total length 10 s is outside this prior's range 17.84–600 s");
    expect(message(() => l.getBatchLabels([song({ totalSeconds: 600 })]))).toBe("total length 600 s is outside this prior's range 17.84–600 s");
    expect(message(() => l.getBatchLabels([song({ totalSeconds: 60, offsetSeconds: 60 })]))).toBe(
      'window start 60 s is not inside the song (total length 60 s); check the offset and total seconds',
    );
    expect(message(() => l.getBatchLabels([song({ totalSeconds: 590, offsetSeconds: 585 })]))).toBe(
      "the window 585 s–602.833 s ends after this prior's maximum song length 600 s",
    );
    expect(message(() => l.getBatchLabels([song({ offsetSeconds: -1 })]))).toBe('offset must be a number of seconds ≥ 0, got -1');
    // A later window: start 6144 tokens × 128 samples past a 10 s offset of a 25 s song.
    const labels = l.getBatchLabels([song({ totalSeconds: 25, offsetSeconds: 10 })]);
    expect(message(() => l.yForWindow(labels, 6144, 128))).toBe(
      'window start 27.833 s is not inside the song (total length 25 s); check the offset and total seconds',
    );
  });

  it('priors without a time signal (upsamplers) take any timing', () => {
    const l = labeller({ minDuration: null, maxDuration: null, nTokens: 0 });
    const { y } = l.yForWindow(l.getBatchLabels([song({ totalSeconds: 5, offsetSeconds: 0 })]), 100000, 32);
    expect(Array.from(y[0].subarray(0, 3))).toEqual([5 * SR, 3200000, 6144 * 128]);
  });
});

describe('id tables', () => {
  it('an unreadable or malformed table names the file', () => {
    const missing = join(tmp, 'nowhere');
    expect(message(() => readLabelIdTables(missing, 'v2'))).toBe(
      `${join(missing, 'v2_artist_ids.txt')}: no such label id table (the folder must hold v2_artist_ids.txt and v2_genre_ids.txt)`,
    );
    writeFileSync(join(tmp, 'v3_artist_ids.txt'), 'ok;1\nbad;line;2\n');
    writeFileSync(join(tmp, 'v3_genre_ids.txt'), 'pop;x\n');
    expect(message(() => readLabelIdTables(tmp, 'v3'))).toBe(`${join(tmp, 'v3_artist_ids.txt')}: line 2 is not 'name;id' (2 ';' found)`);
    expect(message(() => parseLabelIdTable('pop;x\n', 'g.txt'))).toBe("g.txt: line 1: id 'x' is not an integer");
  });

  it('parse lines as Python text mode and str.strip() do', () => {
    const t = parseLabelIdTable('\ufeffFirst;1\r\n\x1cSecond ;2\r\u00a0third\u200e;3\n\nfirst;4\n', 'f.txt');
    // Python keeps a BOM and the LRM, strips U+001C and NBSP, lowercases, and a later name wins.
    expect([...t]).toEqual([['\ufefffirst', 1], ['second ', 2], ['third\u200e', 3], ['first', 4]]);
  });

  it('round-trip through checkpoint metadata, and resolve dir > metadata > env', () => {
    const tables = readLabelIdTables(TABLES, 'v3');
    const metadata = labelTablesToMetadata(tables, 'v3');
    expect(Object.keys(metadata)).toEqual(['label_ids']);
    const back = labelTablesFromMetadata(JSON.parse(JSON.stringify(metadata)), 'prior.safetensors', 'v3')!;
    expect(back.version).toBe('v3');
    expect([...back.tables.artists]).toEqual([...tables.artists]);
    expect([...back.tables.genres]).toEqual([...tables.genres]);
    expect(labelTablesFromMetadata({ format: 'x' }, 'p')).toBeNull();
    expect(message(() => labelTablesFromMetadata(metadata, 'prior.safetensors', 'v2'))).toBe(
      "prior.safetensors: the 'label_ids' metadata holds v3 tables, but this prior uses v2 labels",
    );
    expect(message(() => labelTablesFromMetadata({ label_ids: '{' }, 'p.safetensors'))).toBe("p.safetensors: the 'label_ids' metadata is not valid JSON");

    const v2 = readLabelIdTables(TABLES, 'v2');
    const fromEnv = resolveLabelIdTables({ version: 'v2', env: { JUKEBOX_LABEL_IDS: TABLES } })!;
    expect(fromEnv.sources!.artists).toBe(join(TABLES, 'v2_artist_ids.txt'));
    const carried = labelTablesToMetadata({ artists: new Map([['a', 1]]), genres: new Map([['g', 2]]) }, 'v2');
    expect(resolveLabelIdTables({ version: 'v2', metadata: carried, env: { JUKEBOX_LABEL_IDS: TABLES } })!.artists.get('a')).toBe(1);
    expect([...resolveLabelIdTables({ version: 'v2', dir: TABLES, metadata: carried })!.artists]).toEqual([...v2.artists]);
    expect(resolveLabelIdTables({ version: 'v2', env: {} })).toBeNull();
  });
});
