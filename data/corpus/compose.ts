/**
 * Composes one song as note events: chords, bass, drums and a lead for the instrumental parts,
 * and the sung melody, one lyric word per note. Everything follows from the Rng, in a fixed
 * order, so a seed always gives the same song.
 *
 * The word timing is deliberately irregular (pickups, rests, held line endings, lines that change
 * between fast, even and slow delivery, instrumental breaks between sections), so that spreading
 * the words evenly over the sung span is a poor guess of where they are.
 */
import type { Rng } from '../../src/rng';
import { lyricLine, syllables } from './lyrics';
import type { Artist, Genre } from './tables';

/** A backing note on a General MIDI channel (9 is drums). Times in seconds. */
export interface NoteEvent {
  channel: number;
  note: number;
  velocity: number;
  start: number;
  end: number;
}

/** A sung word: its melody note, its onset, and how long it may last before the next sound. */
export interface SungNote {
  word: string;
  /** MIDI note of the melody: a chord tone of its bar, in the artist's register. */
  note: number;
  start: number;
  /** Seconds from `start` until the note ends (the word must end by then). */
  length: number;
}

export interface SongPlan {
  artist: Artist;
  genre: Genre;
  bpm: number;
  /** Tonic pitch class (0 = C). */
  key: number;
  seconds: number;
  /** The sung lines, in order (chorus lines appear each time they are sung). */
  lines: string[][];
  sung: SungNote[];
  backing: NoteEvent[];
  /** Channel → General MIDI program. */
  programs: Map<number, number>;
}

export const CHORDS_CHANNEL = 0;
export const BASS_CHANNEL = 1;
export const LEAD_CHANNEL = 2;
export const DRUM_CHANNEL = 9;

const MAJOR = [0, 2, 4, 5, 7, 9, 11];

/** Chord roots as scale degrees (0 = I), one per bar. */
const PROGRESSIONS: Record<Genre, number[][]> = {
  pop: [[0, 4, 5, 3], [5, 3, 0, 4], [0, 5, 3, 4]],
  rock: [[0, 3, 4, 3], [0, 6, 3, 0], [0, 4, 3, 3]],
  folk: [[0, 3, 0, 4], [0, 0, 3, 4], [5, 3, 0, 4]],
  jazz: [[1, 4, 0, 5], [0, 5, 1, 4], [2, 5, 1, 4]],
  electronic: [[5, 3, 0, 4], [5, 4, 3, 4], [0, 0, 5, 3]],
  country: [[0, 0, 3, 4], [0, 3, 4, 0], [0, 4, 3, 0]],
};

/** Chord hits in beats within a bar: [start, length]. */
const COMPING: Record<Genre, [number, number][]> = {
  pop: [[0, 2], [2, 2]],
  rock: [[0, 1.5], [1.5, 1], [2.5, 1.5]],
  folk: [[0, 1], [1, 1], [2, 1], [3, 1]],
  jazz: [[0, 1.5], [2.5, 1]],
  electronic: [[0, 4]],
  country: [[0, 1], [1, 1], [2, 1], [3, 1]],
};

/** Bass notes in beats: [start, length, chord tone (0 root, 2 fifth)]. */
const BASS: Record<Genre, [number, number, number][]> = {
  pop: [[0, 1.5, 0], [1.5, 0.5, 0], [2, 2, 0]],
  rock: [[0, 0.5, 0], [0.5, 0.5, 0], [1, 0.5, 0], [1.5, 0.5, 0], [2, 0.5, 0], [2.5, 0.5, 0], [3, 0.5, 0], [3.5, 0.5, 0]],
  folk: [[0, 2, 0], [2, 2, 2]],
  jazz: [[0, 1, 0], [1, 1, 1], [2, 1, 2], [3, 1, 1]],
  electronic: [[0.5, 0.5, 0], [1.5, 0.5, 0], [2.5, 0.5, 0], [3.5, 0.5, 0]],
  country: [[0, 1, 0], [1, 1, 2], [2, 1, 0], [3, 1, 2]],
};

// General MIDI drum notes.
const KICK = 36;
const SNARE = 38;
const SIDE_STICK = 37;
const CLAP = 39;
const CLOSED_HAT = 42;
const PEDAL_HAT = 44;
const RIDE = 51;
const CRASH = 49;

/** Drum hits in beats: [beat, note, velocity]. */
const DRUMS: Record<Genre, [number, number, number][]> = {
  pop: [[0, KICK, 100], [1, SNARE, 90], [2, KICK, 100], [2.5, KICK, 70], [3, SNARE, 90], ...eighths(CLOSED_HAT, 60)],
  rock: [[0, KICK, 110], [1, SNARE, 105], [1.5, KICK, 90], [2, KICK, 110], [3, SNARE, 105], ...eighths(CLOSED_HAT, 75)],
  folk: [[0, KICK, 70], [2, KICK, 65], [1, SIDE_STICK, 60], [3, SIDE_STICK, 60]],
  jazz: [[0, RIDE, 70], [1, RIDE, 70], [1 + 2 / 3, RIDE, 55], [2, RIDE, 70], [3, RIDE, 70], [3 + 2 / 3, RIDE, 55], [1, PEDAL_HAT, 50], [3, PEDAL_HAT, 50], [0, KICK, 45]],
  electronic: [[0, KICK, 115], [1, KICK, 115], [2, KICK, 115], [3, KICK, 115], [1, CLAP, 90], [3, CLAP, 90], [0.5, CLOSED_HAT, 80], [1.5, CLOSED_HAT, 80], [2.5, CLOSED_HAT, 80], [3.5, CLOSED_HAT, 80]],
  country: [[0, KICK, 90], [2, KICK, 90], [1, SIDE_STICK, 85], [3, SIDE_STICK, 85], ...eighths(CLOSED_HAT, 55)],
};

function eighths(note: number, velocity: number): [number, number, number][] {
  return Array.from({ length: 8 }, (_, i): [number, number, number] => [i / 2, note, velocity - (i % 2) * 15]);
}

/** The MIDI notes of the triad (seventh chord for jazz) on a scale degree. */
function chordTones(key: number, degree: number, seventh: boolean): number[] {
  const tone = (d: number) => key + MAJOR[d % 7] + 12 * Math.floor(d / 7);
  const out = [tone(degree), tone(degree + 2), tone(degree + 4)];
  if (seventh) out.push(tone(degree + 6));
  return out;
}

/** The note of pitch class set `classes` in [lo, hi] nearest to `target`, ties broken by the Rng. */
function nearestIn(classes: number[], lo: number, hi: number, target: number, rng: Rng): number {
  let best: number[] = [];
  let bestD = Infinity;
  for (let m = lo; m <= hi; m++) {
    if (!classes.some((c) => (((m - c) % 12) + 12) % 12 === 0)) continue;
    const d = Math.abs(m - target);
    if (d < bestD) [best, bestD] = [[m], d];
    else if (d === bestD) best.push(m);
  }
  return best[rng.int(best.length)];
}

/** How a line delivers its words: note lengths in beats, before the held ending. */
type Delivery = 'fast' | 'even' | 'slow' | 'mixed';

interface LineRhythm {
  /** Beat (from the line's first bar) where each word starts. */
  starts: number[];
  /** Length of each word's note in beats. */
  lengths: number[];
  /** Beat where the last word's note ends. */
  end: number;
  /** Bars the line takes. */
  bars: number;
}

function lineRhythm(words: string[], beatSeconds: number, rng: Rng): LineRhythm {
  const delivery = (['fast', 'fast', 'even', 'even', 'slow', 'mixed', 'mixed'] as Delivery[])[rng.int(7)];
  // A note must leave each syllable about 0.16 s, or the word cannot be sung in it.
  const minBeats = (w: string) => Math.ceil((syllables(w) * 0.16) / beatSeconds / 0.5) * 0.5;
  let t = [0, 0.5, 1][rng.int(3)]; // pickup or downbeat start
  const starts: number[] = [];
  const lengths: number[] = [];
  let end = 0;
  words.forEach((w, i) => {
    let len = delivery === 'fast' ? 0.5 : delivery === 'even' ? 1 : delivery === 'slow' ? 1.5 : [0.5, 0.5, 1, 1.5, 2][rng.int(5)];
    if (i === words.length - 1) len += 0.5 + rng.int(4) / 2; // the line ends on a held note
    len = Math.max(len, minBeats(w));
    starts.push(t);
    lengths.push(len);
    t += len;
    end = t;
    if (i < words.length - 1 && rng.uniform() < 0.2) t += [0.5, 1][rng.int(2)]; // a rest
  });
  return { starts, lengths, end, bars: Math.ceil(t / 4) };
}

/**
 * Composes a song of `seconds` for `artist` in `genre`. The song opens with one instrumental
 * bar (songs under four bars start singing at once), then alternates verses (new lines) and
 * choruses (the same lines each time), with instrumental breaks of one or two bars between
 * sections; only whole lines that fit before the end are sung.
 */
export function composeSong(rng: Rng, artist: Artist, genre: Genre, seconds: number): SongPlan {
  const bpm = artist.bpm[0] + rng.int(artist.bpm[1] - artist.bpm[0] + 1);
  const key = rng.int(12);
  const beat = 60 / bpm;
  const barSeconds = 4 * beat;
  const totalBars = Math.ceil(seconds / barSeconds);
  const progression = PROGRESSIONS[genre][rng.int(PROGRESSIONS[genre].length)];
  const seventh = genre === 'jazz';
  const chorus = [lyricLine(rng), lyricLine(rng)];
  const [lo, hi] = artist.register;

  // Sections: which bars are sung (and by which line) and which are instrumental.
  const lines: string[][] = [];
  const sung: SungNote[] = [];
  const instrumentalBars: number[] = [];
  let bar = 0;
  let note = Math.round((lo + hi) / 2);
  const breakBars = () => 1 + rng.int(2);
  const instrumental = (count: number) => {
    for (let k = 0; k < count && bar < totalBars; k++) instrumentalBars.push(bar++);
  };
  // An instrumental bar opens the song, unless the song is too short to also hold a line.
  if (totalBars >= 4) instrumental(1);
  let section = 0;
  while (bar < totalBars) {
    const isChorus = section % 2 === 1;
    const sectionLines = isChorus ? chorus : Array.from({ length: 2 + rng.int(2) }, () => lyricLine(rng));
    for (let words of sectionLines) {
      // The last word must end a little before the song does; a line that does not fit is
      // drawn again (a new verse line, or a new rhythm for the chorus line) a few times.
      let rhythm = lineRhythm(words, beat, rng);
      for (let attempt = 0; attempt < 4 && (bar * 4 + rhythm.end) * beat > seconds - 0.25; attempt++) {
        if (!isChorus) words = lyricLine(rng);
        rhythm = lineRhythm(words, beat, rng);
      }
      if ((bar * 4 + rhythm.end) * beat > seconds - 0.25) break;
      lines.push(words);
      words.forEach((word, i) => {
        const beatInSong = bar * 4 + rhythm.starts[i];
        const chordDegree = progression[Math.floor(beatInSong / 4) % progression.length];
        const classes = chordTones(key, chordDegree, seventh).map((m) => m % 12);
        note = nearestIn(classes, lo, hi, note + rng.int(7) - 3, rng);
        sung.push({ word, note, start: beatInSong * beat, length: rhythm.lengths[i] * beat });
      });
      bar += rhythm.bars;
    }
    if (bar >= totalBars || (bar + 1) * barSeconds > seconds - 0.25) break;
    instrumental(breakBars());
    section++;
  }
  instrumental(totalBars - bar);

  const backing: NoteEvent[] = [];
  const add = (channel: number, n: number, velocity: number, startBeat: number, lengthBeats: number) => {
    const start = startBeat * beat;
    if (start < seconds) backing.push({ channel, note: n, velocity, start, end: Math.min(seconds, (startBeat + lengthBeats) * beat) });
  };
  for (let b = 0; b < totalBars; b++) {
    const tones = chordTones(key, progression[b % progression.length], seventh);
    const voiced = tones.map((m) => nearestIn([m % 12], 53, 66, 60, rng));
    for (const [s, l] of COMPING[genre]) for (const m of voiced) add(CHORDS_CHANNEL, m, 62 + rng.int(12), b * 4 + s, l);
    for (const [s, l, tone] of BASS[genre]) add(BASS_CHANNEL, nearestIn([tones[tone] % 12], 33, 47, 40, rng), 90 + rng.int(15), b * 4 + s, l);
    for (const [s, n, v] of DRUMS[genre]) add(DRUM_CHANNEL, n, Math.min(127, v + rng.int(9) - 4), b * 4 + s, 0.5);
    if (b === 0) add(DRUM_CHANNEL, CRASH, 90, 0, 2);
  }
  // The lead plays a melody over the instrumental bars, an octave above the singer where it fits.
  let leadNote = Math.min(84, Math.round((lo + hi) / 2) + 12);
  for (const b of instrumentalBars) {
    const classes = chordTones(key, progression[b % progression.length], seventh).map((m) => m % 12);
    const scale = MAJOR.map((s) => (key + s) % 12);
    for (let s = 0; s < 4; ) {
      const len = [0.5, 1, 1, 1.5][rng.int(4)];
      leadNote = nearestIn(s % 2 === 0 ? classes : scale, 55, 88, leadNote + rng.int(7) - 3, rng);
      add(LEAD_CHANNEL, leadNote, 80 + rng.int(20), b * 4 + s, Math.min(len, 4 - s));
      s += len;
    }
  }
  backing.sort((x, y) => x.start - y.start || x.channel - y.channel || x.note - y.note);
  const programs = new Map([[CHORDS_CHANNEL, artist.band.chords], [BASS_CHANNEL, artist.band.bass], [LEAD_CHANNEL, artist.band.lead]]);
  return { artist, genre, bpm, key, seconds, lines, sung, backing, programs };
}
