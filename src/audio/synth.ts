import { Rng } from '../rng';

/** Options of `synthesizeMusic`. */
export interface SynthOptions {
  /** Length in seconds. */
  seconds: number;
  /** Default 22050. */
  sampleRate?: number;
  /** Everything random (key, tempo, notes, noise) follows from it. Default 0. */
  seed?: number;
  /** Include the drum kit. Default true. */
  drums?: boolean;
}

const PENTATONIC = [0, 2, 4, 7, 9];
/** I–V–vi–IV in semitones from the key's root. */
const PROGRESSION = [[0, 4, 7], [7, 11, 14], [9, 12, 16], [5, 9, 12]];

function midiToHz(midi: number): number {
  return 440 * 2 ** ((midi - 69) / 12);
}

/**
 * Deterministic synthetic music, for experiments where the signal must be known and free to
 * share: a I–V–vi–IV chord pad, a bass line, a pentatonic plucked melody and a drum kit (kick,
 * snare, hi-hat), in a key and tempo drawn from `seed`. Mono, peak 0.8.
 */
export function synthesizeMusic(options: SynthOptions): Float32Array {
  const sr = options.sampleRate ?? 22050;
  const n = Math.round(options.seconds * sr);
  const rng = new Rng(options.seed ?? 0);
  const root = 45 + rng.int(12); // A2 … G#3
  const bpm = 90 + rng.int(50);
  const beat = 60 / bpm;
  const out = new Float64Array(n);
  const add = (start: number, length: number, f: (t: number) => number) => {
    const a = Math.max(0, Math.round(start * sr));
    const b = Math.min(n, Math.round((start + length) * sr));
    for (let i = a; i < b; i++) out[i] += f(i / sr - start);
  };
  const bars = Math.ceil(options.seconds / (4 * beat));
  for (let bar = 0; bar < bars; bar++) {
    const chord = PROGRESSION[bar % PROGRESSION.length];
    const t0 = bar * 4 * beat;
    // Pad: three soft detuned voices with a slow attack.
    for (const step of chord) {
      const f = midiToHz(root + 12 + step);
      add(t0, 4 * beat, (t) => {
        const env = Math.min(1, t / 0.3) * Math.min(1, (4 * beat - t) / 0.2);
        return 0.05 * env * (Math.sin(2 * Math.PI * f * t) + 0.5 * Math.sin(2 * Math.PI * f * 1.003 * 2 * t));
      });
    }
    // Bass: the chord root on every beat, a few harmonics with a decay.
    for (let k = 0; k < 4; k++) {
      const f = midiToHz(root + chord[0] - 12);
      add(t0 + k * beat, beat, (t) => {
        const env = Math.exp(-t * 4) * Math.min(1, t / 0.005);
        let v = 0;
        for (let h = 1; h <= 5; h++) v += Math.sin(2 * Math.PI * f * h * t) / h;
        return 0.18 * env * v;
      });
    }
    // Melody: eighth notes on a random walk over the pentatonic scale, some rests.
    let degree = rng.int(PENTATONIC.length);
    for (let k = 0; k < 8; k++) {
      degree = Math.max(0, Math.min(9, degree + rng.int(5) - 2));
      if (rng.uniform() < 0.25) continue;
      const midi = root + 24 + PENTATONIC[degree % 5] + 12 * Math.floor(degree / 5);
      const f = midiToHz(midi);
      const amp = 0.12 + 0.06 * rng.uniform();
      add(t0 + (k * beat) / 2, beat, (t) => {
        const env = Math.exp(-t * 6) * Math.min(1, t / 0.003);
        return amp * env * (Math.sin(2 * Math.PI * f * t) + 0.4 * Math.sin(4 * Math.PI * f * t) + 0.2 * Math.sin(6 * Math.PI * f * t));
      });
    }
    if (options.drums === false) continue;
    for (let k = 0; k < 4; k++) {
      const t = t0 + k * beat;
      if (k % 2 === 0) {
        // Kick: a sine sweeping down from 120 Hz.
        add(t, 0.4, (u) => 0.5 * Math.exp(-u * 9) * Math.sin(2 * Math.PI * (45 * u + (75 / 18) * (1 - Math.exp(-u * 18)))));
      } else {
        // Snare: a noise burst over a 180 Hz body.
        const noise = Float64Array.from({ length: Math.round(0.25 * sr) }, () => rng.uniform() * 2 - 1);
        add(t, 0.25, (u) => Math.exp(-u * 18) * (0.25 * noise[Math.max(0, Math.min(noise.length - 1, Math.floor(u * sr)))] + 0.15 * Math.sin(2 * Math.PI * 180 * u)));
      }
      for (const half of [0, 0.5]) {
        // Hi-hat: differenced (high-passed) noise, very short.
        const hat = Float64Array.from({ length: Math.round(0.06 * sr) + 1 }, () => rng.uniform() * 2 - 1);
        add(t + half * beat, 0.06, (u) => {
          const i = Math.max(0, Math.min(hat.length - 2, Math.floor(u * sr)));
          return 0.08 * Math.exp(-u * 60) * (hat[i + 1] - hat[i]);
        });
      }
    }
  }
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  return Float32Array.from(out, (v) => (peak > 0 ? (0.8 * v) / peak : 0));
}
