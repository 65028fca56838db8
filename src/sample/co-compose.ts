import { JukeboxError } from '../errors';
import type { Rng } from '../rng';
import { codesForBatch, defaultLevelSettings, extendLevel } from './sampler';
import type { LevelSettings, SampleProgress, SamplingPrior, SongCodes } from './types';
import { secondsToChunkedTokens } from './windows';

/**
 * Co-composition as the reference's Colab does it with the top prior: sample a few seconds as N
 * takes, listen, pick one, continue it as N new takes, and so on; then upsample the chosen song.
 *
 *   const c = new CoComposer(top, metas, { sampleRate: 44100, rng: new Rng(1) });
 *   await c.extend(4);      // N takes of ~4 s
 *   c.pick(2);              // keep take 2 (every item now starts with it)
 *   await c.extend(4);      // N continuations of it
 *   const codes = c.codes;  // level → N rows, for decoding or `upsampleCodes`
 */
export class CoComposer<M, L> {
  private zs: SongCodes = new Map();
  readonly settings: LevelSettings;

  constructor(
    readonly prior: SamplingPrior<M, L>,
    /** One metadata per take; the labels of the whole song (its total length, lyrics). */
    readonly metas: M[],
    readonly options: { sampleRate: number; rng: Rng; settings?: LevelSettings; onProgress?: (p: SampleProgress) => void },
  ) {
    if (prior.condDownsample !== null) throw new JukeboxError(`co-composition samples the top level; this prior models level ${prior.level}, an upsampler`);
    this.settings = options.settings ?? defaultLevelSettings(prior);
  }

  /** The takes so far: the prior's level → one row per take. */
  get codes(): SongCodes {
    return this.zs;
  }

  /** Tokens per take so far. */
  get tokens(): number {
    return this.zs.get(this.prior.level)?.[0].length ?? 0;
  }

  /** Seconds of music per take so far. */
  get seconds(): number {
    return (this.tokens * this.prior.rawToTokens) / this.options.sampleRate;
  }

  /**
   * Adds about `seconds` to every take (rounded up to whole sampling chunks, at most one context;
   * the notebook's `seconds_to_tokens`), each take continuing its own song.
   */
  async extend(seconds: number): Promise<void> {
    const tokens = secondsToChunkedTokens(seconds, this.options.sampleRate, this.prior.rawToTokens, this.settings.chunkSize, this.prior.nCtx);
    await extendLevel(this.prior, this.zs, tokens, { metas: this.metas, settings: this.settings, rng: this.options.rng, onProgress: this.options.onProgress });
  }

  /** Keeps take `k`: every take becomes a copy of it, so the next `extend` gives N continuations. */
  pick(k: number): void {
    if (this.tokens === 0) throw new JukeboxError('nothing to pick from yet: extend first');
    this.zs = codesForBatch(this.zs, this.metas.length, [this.prior.level], k);
  }

  /** Starts from stored codes (a previous session's pick), item `take` in every take. */
  load(stored: SongCodes, take?: number): void {
    this.zs = codesForBatch(stored, this.metas.length, [this.prior.level], take);
  }
}
