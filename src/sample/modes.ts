import type { SampleSource } from '../vqvae/streaming';
import { encodeChunked } from '../vqvae/streaming';
import type { VQVAE } from '../vqvae/vqvae';
import { JukeboxError } from '../errors';
import type { Rng } from '../rng';
import { codesForBatch, sampleLevels } from './sampler';
import type { LevelSettings, SampleProgress, SamplingPrior, SongCodes, WindowAttentionSink } from './types';

/**
 * The reference's sampling modes (`sample.py`: ancestral_sample, primed_sample, continue_sample,
 * upsample) over `sampleLevels`. `priors` are the models of the levels to sample, any order.
 */
export interface ModeOptions<M> {
  /** One metadata per item: the batch size. */
  metas: M[];
  /** Length of the song to reach, in seconds; rounded down to whole tokens of the top level sampled. */
  seconds: number;
  settings?: Map<number, LevelSettings>;
  rng: Rng;
  onProgress?: (p: SampleProgress) => void;
  onLevel?: (level: number, zs: SongCodes) => void | Promise<void>;
  /** Capture the lyric attention while its level is sampled (a `SampledLyricAttention`). */
  lyricAttention?: WindowAttentionSink;
}

/** Every level from nothing, top down. */
export function ancestralSample<M, L>(priors: SamplingPrior<M, L>[], options: ModeOptions<M>): Promise<SongCodes> {
  return sampleLevels(priors, new Map(), songSamples(priors, options.seconds), options);
}

/**
 * A song length in audio samples: `seconds` rounded down to whole tokens of the top level among
 * `priors` (so to whole tokens of every level), as windows must fall on tokens.
 */
export function songSamples<M, L>(priors: readonly SamplingPrior<M, L>[], seconds: number): number {
  const top = priors.reduce((a, b) => (b.level > a.level ? b : a));
  // The epsilon keeps a length given as tokens / rate (e.g. 640 / 22050 s) from losing a token to rounding.
  const samples = Math.floor((seconds * top.sampleRate) / top.rawToTokens + 1e-9) * top.rawToTokens;
  if (!(samples > 0)) {
    throw new JukeboxError(`a song of ${seconds} s is shorter than one level-${top.level} token (${(top.rawToTokens / top.sampleRate).toFixed(4)} s)`);
  }
  return samples;
}

/** The hop lengths (samples per token at each level) of a VQ-VAE geometry: `downs_t`, `strides_t`. */
export function geometryHopLengths(downsT: readonly number[], stridesT: readonly number[]): number[] {
  let hop = 1;
  return downsT.map((d, l) => (hop *= stridesT[l] ** d));
}

/**
 * A prompt's length in samples: `seconds` of it (default all of it) rounded down to whole tokens
 * of the top level, as the reference cuts its prompts; it must leave something to sample.
 */
export function promptSamples(available: number, sampleRate: number, topRawToTokens: number, lengthSamples: number, seconds?: number): number {
  const wanted = seconds === undefined ? available : Math.min(available, Math.floor(seconds * sampleRate));
  const samples = Math.floor(wanted / topRawToTokens) * topRawToTokens;
  if (samples <= 0) throw new JukeboxError(`the prompt is shorter than one top-level token (${topRawToTokens} samples, ${(topRawToTokens / sampleRate).toFixed(3)} s)`);
  if (samples >= lengthSamples) {
    throw new JukeboxError(`the prompt (${(samples / sampleRate).toFixed(2)} s) is as long as the song asked (${(lengthSamples / sampleRate).toFixed(2)} s): nothing to sample; ask for more seconds or a shorter prompt`);
  }
  return samples;
}

/**
 * Primed sampling: the first `promptSeconds` of `prompt` (default all of it, rounded down to whole
 * top-level tokens) encoded by the VQ-VAE at every level sampled, then each level continued to
 * the song's length. Every item starts from the same prompt.
 */
export async function primedSample<M, L>(priors: SamplingPrior<M, L>[], vqvae: VQVAE, prompt: SampleSource, options: ModeOptions<M> & { promptSeconds?: number }): Promise<SongCodes> {
  const levels = priors.map((p) => p.level).sort((a, b) => b - a);
  const top = priors.find((p) => p.level === levels[0])!;
  const lengthSamples = songSamples(priors, options.seconds);
  const length = promptSamples(prompt.length, prompt.sampleRate, top.rawToTokens, lengthSamples, options.promptSeconds);
  const cut: SampleSource = { sampleRate: prompt.sampleRate, length, read: (a, b) => prompt.read(a, Math.min(b, length)) };
  const codes = await encodeChunked(vqvae, cut, levels);
  const stored: SongCodes = new Map(levels.map((level, i) => [level, [codes[i]]]));
  return sampleLevels(priors, codesForBatch(stored, options.metas.length, levels), lengthSamples, options);
}

/**
 * Continues stored codes (reference `continue_sample`): item `take` for every item (or the stored
 * items as they are), optionally cut to the first `promptSeconds`, then each level sampled on to
 * the song's length.
 */
export function continueSample<M, L>(
  priors: SamplingPrior<M, L>[],
  stored: SongCodes,
  sampleRate: number,
  options: ModeOptions<M> & { take?: number; promptSeconds?: number },
): Promise<SongCodes> {
  const levels = priors.map((p) => p.level).sort((a, b) => b - a);
  const top = priors.find((p) => p.level === levels[0])!;
  const have = stored.get(top.level)?.[0].length;
  if (have === undefined) throw new JukeboxError(`the codes hold no level ${top.level}, the level to continue`);
  const lengthSamples = songSamples(priors, options.seconds);
  const samples = promptSamples(have * top.rawToTokens, sampleRate, top.rawToTokens, lengthSamples, options.promptSeconds);
  const rawOf = new Map(priors.map((p) => [p.level, p.rawToTokens]));
  const zs = codesForBatch(stored, options.metas.length, levels, options.take, (level) => samples / rawOf.get(level)!);
  return sampleLevels(priors, zs, lengthSamples, options);
}

/**
 * Upsampling (reference `upsample`): the levels of `upsamplers` sampled under the given codes of
 * the level above them (item `take` for every item, or the stored items), the song as long as
 * those codes.
 */
export function upsampleCodes<M, L>(
  upsamplers: SamplingPrior<M, L>[],
  stored: SongCodes,
  options: Omit<ModeOptions<M>, 'seconds'> & { take?: number; topRawToTokens: number },
): Promise<SongCodes> {
  const above = Math.max(...upsamplers.map((p) => p.level)) + 1;
  const rows = stored.get(above);
  if (rows === undefined) throw new JukeboxError(`the codes hold no level ${above}, which the level ${above - 1} upsampler is conditioned on`);
  const zs = codesForBatch(stored, options.metas.length, [above], options.take);
  return sampleLevels(upsamplers, zs, rows[0].length * options.topRawToTokens, options);
}
