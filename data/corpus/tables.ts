/**
 * The artists and genres of the generated corpus, and their label id tables.
 *
 * Names are already in the form both label editions look up (v2 normalises to `[a-z0-9_]`, v3
 * lowercases), so one table serves both, and a sidecar's `artist` and `genre` are the keys
 * themselves. Genres are single words: v2 reads a genre as a bag of words, v3 as one name, and a
 * single word means the same to both. Id 0 is `unknown`, as in the reference's tables.
 *
 * This module imports nothing from the corpus generator's synthesizers, so a trainer may use
 * `corpusLabelTables()` without loading them.
 */
import type { LabelIdTables } from '../../src/labels/id-tables';
import type { LabelVersion } from '../../src/labels/text-processor';

export const GENRES = ['pop', 'rock', 'folk', 'jazz', 'electronic', 'country'] as const;
export type Genre = (typeof GENRES)[number];

/** General MIDI programs (0-based) of an artist's band. */
export interface Band {
  chords: number;
  bass: number;
  /** Plays the melody of the instrumental breaks. */
  lead: number;
}

export interface Artist {
  name: string;
  /** The genres its songs are drawn from; the first is the most frequent. */
  genres: Genre[];
  /** eSpeak NG voice whose accent the artist sings with. */
  espeakVoice: string;
  /** eSpeak NG variant whose formants and breathiness give the artist's timbre (`voices/!v/<name>`). */
  espeakVariant: string;
  /** Lowest and highest sung MIDI note. */
  register: [number, number];
  /** Tempo range in beats per minute. */
  bpm: [number, number];
  band: Band;
}

/** About eight artists, each with a voice, register, tempo range and band of its own. */
export const ARTISTS: Artist[] = [
  { name: 'amber_vale', genres: ['pop', 'folk'], espeakVoice: 'gmw/en-US', espeakVariant: 'f2', register: [62, 74], bpm: [88, 104], band: { chords: 0, bass: 33, lead: 11 } },
  { name: 'copper_lanterns', genres: ['rock', 'pop'], espeakVoice: 'gmw/en', espeakVariant: 'm3', register: [50, 62], bpm: [120, 140], band: { chords: 29, bass: 34, lead: 30 } },
  { name: 'delta_reed', genres: ['country', 'folk'], espeakVoice: 'gmw/en-US', espeakVariant: 'm1', register: [48, 60], bpm: [96, 116], band: { chords: 25, bass: 32, lead: 22 } },
  { name: 'nova_circuit', genres: ['electronic', 'pop'], espeakVoice: 'gmw/en-US', espeakVariant: 'f4', register: [64, 76], bpm: [118, 128], band: { chords: 89, bass: 38, lead: 81 } },
  { name: 'midnight_brass', genres: ['jazz'], espeakVoice: 'gmw/en-GB-x-rp', espeakVariant: 'm2', register: [45, 57], bpm: [72, 92], band: { chords: 4, bass: 32, lead: 65 } },
  { name: 'willow_and_stone', genres: ['folk', 'country'], espeakVoice: 'gmw/en-GB-scotland', espeakVariant: 'f1', register: [60, 72], bpm: [70, 88], band: { chords: 24, bass: 32, lead: 73 } },
  { name: 'river_kings', genres: ['country', 'rock'], espeakVoice: 'gmw/en-029', espeakVariant: 'm4', register: [47, 59], bpm: [100, 120], band: { chords: 25, bass: 33, lead: 27 } },
  { name: 'silver_static', genres: ['electronic', 'rock'], espeakVoice: 'gmw/en', espeakVariant: 'steph', register: [65, 77], bpm: [104, 122], band: { chords: 88, bass: 38, lead: 80 } },
];

/**
 * The name → id tables of the corpus: id 0 `unknown`, then the names in sorted order, which is
 * how `jukebox train-prior` numbers a data folder's names (`labelTablesFromSongs`): a model
 * trained on a corpus that has every artist and genre gets these very ids.
 */
export function corpusLabelTables(): LabelIdTables {
  const table = (names: string[]) => new Map<string, number>([['unknown', 0], ...[...names].sort().map((n, i): [string, number] => [n, i + 1])]);
  return {
    artists: table(ARTISTS.map((a) => a.name)),
    genres: table([...GENRES]),
    sources: { artists: 'the generated corpus (data/corpus/tables.ts)', genres: 'the generated corpus (data/corpus/tables.ts)' },
  };
}

/**
 * The tables as `name;id` files, under the names `readLabelIdTables` reads: the same content for
 * v2 and v3, since every name is a valid key of both editions.
 */
export function labelIdFiles(): Record<string, string> {
  const t = corpusLabelTables();
  const text = (m: Map<string, number>) => [...m].map(([k, v]) => `${k};${v}\n`).join('');
  const files: Record<string, string> = {};
  for (const v of ['v2', 'v3'] as LabelVersion[]) {
    files[`${v}_artist_ids.txt`] = text(t.artists);
    files[`${v}_genre_ids.txt`] = text(t.genres);
  }
  return files;
}
