/**
 * The generated corpus: songs with sung lyrics whose word timings are known exactly, written as
 * `<name>.wav` + `<name>.json` sidecars (`artist`, `genre`, `lyrics`, `words`), the data-folder
 * format of `jukebox train-prior`. Deterministic: the same seed gives byte-identical files.
 */
import { mkdirSync, writeFileSync } from 'fs';
import { join, resolve, sep } from 'path';
import { writeWav } from '../../src/audio/wav-write';
import { JukeboxError } from '../../src/errors';
import { Rng } from '../../src/rng';
import { renderBacking } from './backing';
import { composeSong } from './compose';
import type { SongPlan } from './compose';
import { Singer } from './sing';
import { ARTISTS, labelIdFiles } from './tables';

export interface WordTiming {
  word: string;
  /** Seconds from the start of the file. */
  start: number;
  end: number;
  /** The MIDI note it is sung on. */
  note: number;
}

/** A song's JSON sidecar. */
export interface Sidecar {
  artist: string;
  genre: string;
  lyrics: string;
  words: WordTiming[];
  seconds: number;
  sample_rate: number;
  bpm: number;
  /** Tonic pitch class, 0 = C (major key). */
  key: number;
  /** The corpus seed and the song's index in it, which regenerate the song. */
  seed: number;
  index: number;
}

export interface Song {
  name: string;
  sidecar: Sidecar;
  mix: Float32Array;
  /** The vocals alone, scaled as they are in the mix. */
  vocals: Float32Array;
}

/** Silence kept after each word, before the next note, so every word has a clean onset. */
const WORD_GAP = 0.06;
/** How far the vocals sit above the backing: sung-part RMS over backing RMS. */
const VOCAL_LEAD_DB = 6;
const PEAK = 0.89;

/** The Rng seed of song `index` of a corpus made with `seed`. */
function songSeed(seed: number, index: number): number {
  return ((seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

/**
 * Composes song `index` of corpus `seed`, drawing again while it sings nothing or its lyrics
 * equal those of an earlier song (`taken`), so that no two songs of a corpus share lyrics.
 */
export function planSong(seed: number, index: number, seconds: number, taken: Set<string> = new Set()): SongPlan {
  // Artists take turns, from a seed-chosen start, so every corpus is balanced over them.
  const artist = ARTISTS[(new Rng(seed >>> 0).int(ARTISTS.length) + index) % ARTISTS.length];
  const rng = new Rng(songSeed(seed, index));
  // The first genre of an artist is twice as likely as each of the others.
  const weighted = [artist.genres[0], ...artist.genres];
  const genre = weighted[rng.int(weighted.length)];
  // Short songs may draw no line that fits; a few more draws find one.
  for (let attempt = 0; attempt < 100; attempt++) {
    const plan = composeSong(rng, artist, genre, seconds);
    const lyrics = lyricsText(plan);
    if (plan.sung.length > 0 && !taken.has(lyrics)) {
      taken.add(lyrics);
      return plan;
    }
  }
  throw new JukeboxError(`${seconds} s is too short for ${artist.name} to sing a line`);
}

function lyricsText(plan: SongPlan): string {
  return plan.lines.map((l) => l.join(' ')).join('\n');
}

/** Renders a planned song: backing, vocals, mix and sidecar. */
export async function renderSong(plan: SongPlan, seed: number, index: number, sampleRate: number): Promise<Song> {
  const backing = await renderBacking(plan.backing, plan.programs, plan.seconds, sampleRate);
  const vocals = new Float32Array(backing.length);
  const words: WordTiming[] = [];
  const singer = await Singer.create();
  for (const note of plan.sung) {
    const audio = singer.sing(plan.artist, note.word, note.note, note.length - WORD_GAP, sampleRate);
    const at = Math.round(note.start * sampleRate);
    const len = Math.min(audio.length, vocals.length - at);
    vocals.set(audio.subarray(0, len), at);
    words.push({ word: note.word, start: at / sampleRate, end: (at + len) / sampleRate, note: note.note });
  }
  // Vocals at VOCAL_LEAD_DB over the backing (RMS of the sung samples), then one gain for both.
  const rms = (x: Float32Array, active: boolean) => {
    let s = 0;
    let n = 0;
    for (const v of x) if (!active || v !== 0) (s += v * v), n++;
    return Math.sqrt(s / Math.max(1, n));
  };
  const vocalGain = words.length > 0 ? (rms(backing, false) * 10 ** (VOCAL_LEAD_DB / 20)) / rms(vocals, true) : 0;
  const mix = new Float32Array(backing.length);
  let peak = 0;
  for (let i = 0; i < mix.length; i++) {
    mix[i] = backing[i] + vocalGain * vocals[i];
    peak = Math.max(peak, Math.abs(mix[i]));
  }
  const scale = peak > 0 ? PEAK / peak : 1;
  for (let i = 0; i < mix.length; i++) {
    mix[i] *= scale;
    vocals[i] *= vocalGain * scale;
  }
  const sidecar: Sidecar = {
    artist: plan.artist.name,
    genre: plan.genre,
    lyrics: lyricsText(plan),
    words,
    seconds: plan.seconds,
    sample_rate: sampleRate,
    bpm: plan.bpm,
    key: plan.key,
    seed,
    index,
  };
  return { name: `song_${seed}_${String(index).padStart(4, '0')}`, sidecar, mix, vocals };
}

export interface CorpusOptions {
  songs: number;
  seed: number;
  /** Length of each song. */
  seconds: number;
  sampleRate: number;
  out: string;
  /**
   * Also write each song's vocals alone to `<stems>/<name>.wav`. A folder apart from `out`:
   * data folders are read recursively, and the stems are not songs.
   */
  stems?: string;
  onSong?: (song: Song, done: number) => void;
}

/**
 * Writes the corpus: `<out>/<name>.wav` (16-bit mono) and `<out>/<name>.json` per song, and the
 * label id tables under `<out>/label_ids/` (v2 and v3 file names, as `readLabelIdTables` reads).
 */
export async function writeCorpus(opts: CorpusOptions): Promise<void> {
  if (opts.stems !== undefined) {
    const [stems, out] = [resolve(opts.stems), resolve(opts.out)];
    if (stems === out || stems.startsWith(out + sep)) {
      throw new JukeboxError('the stems folder must be outside the corpus folder (data folders are read recursively, and stems are not songs)', opts.stems);
    }
  }
  mkdirSync(opts.out, { recursive: true });
  const ids = join(opts.out, 'label_ids');
  mkdirSync(ids, { recursive: true });
  for (const [file, text] of Object.entries(labelIdFiles())) writeFileSync(join(ids, file), text);
  if (opts.stems) mkdirSync(opts.stems, { recursive: true });
  const taken = new Set<string>();
  for (let i = 0; i < opts.songs; i++) {
    const song = await renderSong(planSong(opts.seed, i, opts.seconds, taken), opts.seed, i, opts.sampleRate);
    await writeWav(join(opts.out, `${song.name}.wav`), song.mix, opts.sampleRate, { format: 'pcm16' });
    if (opts.stems) await writeWav(join(opts.stems, `${song.name}.wav`), song.vocals, opts.sampleRate, { format: 'pcm16' });
    writeFileSync(join(opts.out, `${song.name}.json`), `${JSON.stringify(song.sidecar, null, 1)}\n`);
    opts.onSong?.(song, i + 1);
  }
}
