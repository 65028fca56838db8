/**
 * `npm run vocal-survival`: how much of the sung vocals each VQ-VAE level's codes keep.
 *
 *   npm run vocal-survival -- [--vqvae weights/default/vqvae.safetensors] [--songs 6] [--seed 1001]
 *     [--seconds 30] [--out FILE.json]
 *
 * A top prior can only learn from lyrics what its level's codes carry of the singing. This renders
 * held-out corpus songs twice, with and without their vocals (the generator mixes backing +
 * vocals, so the backing alone is exact), encodes and decodes both at every level, and compares
 * the difference of the two reconstructions with the vocal stem: the spectral convergence of
 * `decode(encode(mix)) − decode(encode(backing))` against the vocals, in dB. 0 dB or above: the
 * level keeps nothing of the vocals; the mix's own spectral convergence is printed beside it.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { planSong, renderSong } from '../data/corpus/corpus';
import { arraySource } from '../src/audio/source';
import { initBackend } from '../src/backend';
import { loadVQVAE } from '../src/checkpoint/load';
import { spectralConvergenceDb } from '../src/metrics';
import { decodeChunked, encodeChunked } from '../src/vqvae/streaming';
import { VQVAE } from '../src/vqvae/vqvae';

export interface VocalSurvivalOptions {
  vqvae: string;
  /** Songs rendered (the first of the seed's corpus, as make-corpus writes them). */
  songs: number;
  /** Corpus seed: 1001, the default models' held-out seed. */
  seed: number;
  seconds: number;
  /** Where the JSON report goes (null: nowhere). */
  out: string | null;
}

export const DEFAULTS: VocalSurvivalOptions = { vqvae: 'weights/default/vqvae.safetensors', songs: 6, seed: 1001, seconds: 30, out: null };

export interface LevelSurvival {
  level: number;
  /** Mean over songs: the vocals through the codes against the vocal stem, dB. */
  vocals_db: number;
  /** Mean over songs: the mix's reconstruction against the mix, dB. */
  mix_db: number;
  per_song_vocals_db: number[];
}

async function roundTrip(model: VQVAE, audio: Float32Array, level: number): Promise<Float32Array> {
  const [codes] = await encodeChunked(model, arraySource(audio, model.config.sr), [level]);
  const out = new Float32Array(audio.length);
  let at = 0;
  await decodeChunked(model, codes, level, (chunk) => {
    const n = Math.min(chunk.length, out.length - at);
    out.set(chunk.subarray(0, n), at);
    at += n;
  });
  return out;
}

export async function vocalSurvival(o: VocalSurvivalOptions, log: (line: string) => void = console.log): Promise<LevelSurvival[]> {
  await initBackend();
  const { model } = loadVQVAE(o.vqvae);
  const levels = model.allLevels();
  const vocals: number[][] = levels.map(() => []);
  const mix: number[][] = levels.map(() => []);
  try {
    const taken = new Set<string>();
    for (let i = 0; i < o.songs; i++) {
      const song = await renderSong(planSong(o.seed, i, o.seconds, taken), o.seed, i, model.config.sr);
      const backing = song.mix.map((x, t) => x - song.vocals[t]);
      for (const [k, level] of levels.entries()) {
        const withVocals = await roundTrip(model, song.mix, level);
        const without = await roundTrip(model, backing, level);
        vocals[k].push(spectralConvergenceDb(song.vocals, withVocals.map((x, t) => x - without[t])));
        mix[k].push(spectralConvergenceDb(song.mix, withVocals));
      }
      log(`${song.name}: vocals through the codes ${levels.map((_, k) => vocals[k][i].toFixed(2)).join(' / ')} dB`);
    }
  } finally {
    model.dispose();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return levels.map((level, k) => ({ level, vocals_db: mean(vocals[k]), mix_db: mean(mix[k]), per_song_vocals_db: vocals[k] }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { vqvae: { type: 'string' }, songs: { type: 'string' }, seed: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' } },
  });
  const whole = (name: string, text: string | undefined, fallback: number): number => {
    const v = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number ≥ 1, got ${text}`);
    return v;
  };
  const o: VocalSurvivalOptions = {
    vqvae: values.vqvae ?? DEFAULTS.vqvae,
    songs: whole('songs', values.songs, DEFAULTS.songs),
    seed: whole('seed', values.seed, DEFAULTS.seed),
    seconds: whole('seconds', values.seconds, DEFAULTS.seconds),
    out: values.out ?? DEFAULTS.out,
  };
  const result = await vocalSurvival(o);
  for (const r of result) console.log(`level ${r.level}: vocals through the codes ${r.vocals_db.toFixed(2)} dB (the mix: ${r.mix_db.toFixed(2)} dB)`);
  if (o.out !== null) fs.writeFileSync(o.out, JSON.stringify({ vqvae: o.vqvae, seed: o.seed, songs: o.songs, levels: result }, null, 1) + '\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`vocal-survival: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
