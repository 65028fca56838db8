/// <reference path="./packages.d.ts" />
/**
 * Sings single words on given notes with eSpeak NG compiled to WebAssembly
 * (`@echogarden/espeak-ng-emscripten`, GPL-3.0: a devDependency used by the corpus generator
 * only, never by the toolkit's runtime code).
 *
 * eSpeak speaks, it does not sing; three settings make it hold a note. Each artist gets a voice
 * variant file (`voices/!v/`) whose `pitch` line is rewritten per note with both ends equal, with
 * `flutter 0` and an intonation range of 0, so the whole word is one steady pitch. With those
 * settings eSpeak's fundamental is the variant's pitch minus 9 Hz (measured: 100 → 91.0 Hz,
 * 300 → 290.9 Hz, 440 → 430.9 Hz; its voices.c stores the base as `(pitch - 9) << 12`), so the
 * file asks for the note's frequency + 9 Hz. The variant's pitch is whole hertz; the remaining
 * error (under 0.1 semitone at 100 Hz) is removed by resampling the word by the exact ratio.
 * The speaking rate is chosen per word so that it fills most of its note.
 */
import createEspeak from '@echogarden/espeak-ng-emscripten';
import type { ESpeakNGWorker, EspeakModule } from '@echogarden/espeak-ng-emscripten';
import { resample } from '../../src/audio/resample';
import type { Artist } from './tables';

const VARIANTS = '/usr/share/espeak-ng-data/voices/!v';
/** Our variant's file name: the artist's timbre with the note's pitch. */
const SUNG_VARIANT = 'jukebox_sung';
/** eSpeak's fundamental is the variant's `pitch` minus this (see above). */
const PITCH_OFFSET_HZ = 9;
const DEFAULT_RATE = 175;
/** Part of its note a word is stretched or squeezed to fill (by its speaking rate). */
const FILL = 0.85;
/** A word within this fraction of its target length is not synthesized again. */
const RATE_TOLERANCE = 0.15;
/** A word starts and ends where its amplitude crosses this fraction of its peak. */
const EDGE = 0.02;
const FADE_SECONDS = 0.008;

export function midiToHz(midi: number): number {
  return 440 * 2 ** ((midi - 69) / 12);
}

export class Singer {
  private readonly module: EspeakModule;
  private readonly worker: ESpeakNGWorker;
  /** eSpeak's output rate (22050 Hz). */
  readonly espeakRate: number;
  private voiceKey = '';

  private constructor(module: EspeakModule) {
    this.module = module;
    this.worker = atFixedTime(() => new module.eSpeakNGWorker());
    this.espeakRate = this.worker.get_samplerate();
  }

  /** A fresh eSpeak instance: its state then depends only on what this Singer sings. */
  static async create(): Promise<Singer> {
    return new Singer(await createEspeak());
  }

  /**
   * `word` sung by `artist` on `midi`, at `sampleRate`, at most `maxSeconds` long. The result
   * starts at the word's first sound (silence before it is cut), so placing it at an onset
   * makes that onset exact.
   */
  sing(artist: Artist, word: string, midi: number, maxSeconds: number, sampleRate: number): Float32Array {
    return atFixedTime(() => this.singNow(artist, word, midi, maxSeconds, sampleRate));
  }

  private singNow(artist: Artist, word: string, midi: number, maxSeconds: number, sampleRate: number): Float32Array {
    const hz = midiToHz(midi);
    const asked = Math.round(hz + PITCH_OFFSET_HZ);
    this.setVoice(artist, asked);
    const sr = this.espeakRate;
    const target = FILL * maxSeconds * sr;
    // Word length is not proportional to 1 / rate (eSpeak shortens faster above ~350 words per
    // minute), so the rate is corrected twice at most, each time by the length still missing.
    let rate = DEFAULT_RATE;
    this.worker.set_rate(rate);
    let audio = this.synthesize(word);
    for (let k = 0; k < 2 && Math.abs(audio.length / target - 1) > RATE_TOLERANCE; k++) {
      const next = Math.max(80, Math.min(450, Math.round((rate * audio.length) / target)));
      if (next === rate) break;
      rate = next;
      this.worker.set_rate(rate);
      audio = this.synthesize(word);
    }
    // Raise or lower by the part of a hertz the variant file could not express.
    let tuned = stretch(audio, hz / (asked - PITCH_OFFSET_HZ));
    if (sampleRate !== sr) tuned = resample(tuned, sr, sampleRate);
    const max = Math.floor(maxSeconds * sampleRate);
    if (tuned.length > max) tuned = tuned.slice(0, max);
    fadeOut(tuned, Math.round(FADE_SECONDS * sampleRate));
    return tuned;
  }

  private setVoice(artist: Artist, pitchHz: number): void {
    const key = `${artist.name}:${pitchHz}`;
    if (key === this.voiceKey) return;
    const base = new TextDecoder()
      .decode(this.module.FS.readFile(`${VARIANTS}/${artist.espeakVariant}`))
      .split('\n')
      .filter((line) => !/^\s*(name|language|pitch|flutter)\b/.test(line));
    const variant = ['language variant', `name ${SUNG_VARIANT}`, ...base, `pitch ${pitchHz} ${pitchHz}`, 'flutter 0', ''].join('\n');
    this.module.FS.writeFile(`${VARIANTS}/${SUNG_VARIANT}`, variant);
    if (this.worker.set_voice(`${artist.espeakVoice}+${SUNG_VARIANT}`, '') !== 0) {
      throw new Error(`eSpeak NG has no voice ${artist.espeakVoice} (artist ${artist.name})`);
    }
    this.worker.set_range(0);
    this.worker.set_pitch(50);
    this.voiceKey = key;
  }

  /** The word's audio from its first to its last sound (see EDGE). */
  private synthesize(word: string): Float32Array {
    const chunks: Int16Array[] = [];
    this.worker.synthesize(word, (audio) => {
      chunks.push(audio);
      return 0;
    });
    const all = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) for (let i = 0; i < c.length; i++) all[o++] = c[i] / 32768;
    let peak = 0;
    for (const v of all) peak = Math.max(peak, Math.abs(v));
    let a = 0;
    while (a < all.length && Math.abs(all[a]) < EDGE * peak) a++;
    let b = all.length;
    while (b > a && Math.abs(all[b - 1]) < EDGE * peak) b--;
    return all.slice(a, b);
  }
}

/**
 * Runs `fn` with `Date.now` frozen at 0. The WebAssembly build reads the clock only through
 * `Date.now` (Emscripten's `emscripten_date_now`), and eSpeak's output depends on it: the same
 * words sung at different times came out with different lengths. `fn` must be synchronous.
 */
function atFixedTime<T>(fn: () => T): T {
  const now = Date.now;
  Date.now = () => 0;
  try {
    return fn();
  } finally {
    Date.now = now;
  }
}

/** Plays `x` `ratio` times faster (cubic Hermite interpolation): pitch × ratio, length ÷ ratio. */
function stretch(x: Float32Array, ratio: number): Float32Array {
  const n = Math.max(1, Math.floor((x.length - 1) / ratio));
  const y = new Float32Array(n);
  const at = (i: number) => x[Math.max(0, Math.min(x.length - 1, i))];
  for (let k = 0; k < n; k++) {
    const p = k * ratio;
    const i = Math.floor(p);
    const t = p - i;
    const [xm, x0, x1, x2] = [at(i - 1), at(i), at(i + 1), at(i + 2)];
    y[k] = x0 + 0.5 * t * (x1 - xm + t * (2 * xm - 5 * x0 + 4 * x1 - x2 + t * (3 * (x0 - x1) + x2 - xm)));
  }
  return y;
}

function fadeOut(x: Float32Array, n: number): void {
  const m = Math.min(n, x.length);
  for (let i = 0; i < m; i++) x[x.length - 1 - i] *= i / m;
}
