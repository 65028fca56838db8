import { JukeboxError } from '../errors';

/**
 * Window planning for sampling and scoring songs longer than a prior's context: pure arithmetic on
 * token positions at one level, kept apart from the models so it can be tested exhaustively.
 * Positions are tokens of the level being sampled; `[start, end)` spans are half-open.
 */

/** One window of a level: the prior sees tokens [start, end) and samples the ones not yet there. */
export interface SampleWindow {
  /** First token of the window. */
  start: number;
  /** One past its last token; `end - start` is the prior's `sample_tokens` (≤ n_ctx). */
  end: number;
  /** Tokens already present in [start, end) that the window continues from (its primed part). */
  context: number;
  /** Tokens the window adds: `end - start - context`. */
  fresh: number;
}

/**
 * The reference's window starts (`get_starts`): every `hop` tokens from 0, the last one pulled back
 * to `total - nCtx` so the final window is a full context. Needs `total >= nCtx`.
 */
export function windowStarts(total: number, nCtx: number, hop: number): number[] {
  if (!(hop > 0) || !Number.isInteger(hop)) throw new RangeError(`hop must be a positive integer, got ${hop}`);
  const starts: number[] = [];
  for (let start = 0; start < total - nCtx + hop; start += hop) {
    starts.push(start + nCtx >= total ? total - nCtx : start);
  }
  return starts;
}

/**
 * The hop between windows at a level: `hopFraction × n_ctx` (the reference's
 * `int(hop_fraction[level] * n_ctx)`), rounded down to a multiple of the level-above downsampling
 * so every window start slices the upper level's codes exactly (the reference asserts
 * `start % cond_downsample == 0`), and at least one such step.
 */
export function hopLength(hopFraction: number, nCtx: number, condDownsample: number | null = null): number {
  if (!(hopFraction > 0 && hopFraction <= 1)) {
    throw new JukeboxError(`--hop-fraction: each fraction must be in (0, 1], got ${hopFraction}`);
  }
  const step = condDownsample ?? 1;
  return Math.max(step, Math.floor(Math.floor(hopFraction * nCtx) / step) * step);
}

/**
 * The windows that bring a level from `existing` tokens to `total`, as the reference's
 * `sample_level` visits them: for a song of at least one context, a full window at each of
 * `windowStarts` that still has tokens to add (windows wholly inside the existing tokens are
 * skipped, so a primed or continued song resumes where its codes end); for a shorter song, one
 * window from 0 holding all `total` tokens.
 */
export function planLevelWindows(total: number, existing: number, nCtx: number, hop: number): SampleWindow[] {
  if (existing > total) throw new RangeError(`the level already holds ${existing} tokens, more than the ${total} asked`);
  if (total < nCtx) return existing < total ? [{ start: 0, end: total, context: existing, fresh: total - existing }] : [];
  const windows: SampleWindow[] = [];
  let have = existing;
  for (const start of windowStarts(total, nCtx, hop)) {
    const end = start + nCtx;
    if (have >= end) continue;
    // A start past the tokens present would leave a gap; the reference never plans one since its
    // hop is at most n_ctx and it samples from the start. Checked here for hand-made plans.
    if (start > have) throw new RangeError(`window [${start}, ${end}) starts after the ${have} tokens present`);
    windows.push({ start, end, context: have - start, fresh: end - have });
    have = end;
  }
  return windows;
}

/**
 * The window that adds `tokens` to a level holding `current` (the reference's
 * `sample_partial_window`, which the co-composition notebook drives): from 0 while everything fits
 * in one context, else the last `n_ctx` tokens of the extended song.
 */
export function partialWindow(current: number, tokens: number, nCtx: number): SampleWindow {
  if (!(tokens > 0) || tokens > nCtx) throw new RangeError(`a partial window adds 1..${nCtx} tokens, got ${tokens}`);
  const end = current + tokens;
  const start = end <= nCtx ? 0 : end - nCtx;
  return { start, end, context: current - start, fresh: tokens };
}

/**
 * The span of the level above that conditions window [start, end): `[start / d, end / d)` for the
 * level-above downsampling d. The window must sit on multiples of d (the reference's assert).
 */
export function conditioningSpan(start: number, end: number, condDownsample: number): { start: number; end: number } {
  if (start % condDownsample !== 0 || end % condDownsample !== 0) {
    throw new RangeError(`window [${start}, ${end}) is not aligned to the level above (downsampling ${condDownsample})`);
  }
  return { start: start / condDownsample, end: end / condDownsample };
}

/** Splits `n` items into consecutive batches of at most `maxBatch` (the reference's `split_batch`). */
export function batchRanges(n: number, maxBatch: number): { start: number; end: number }[] {
  if (!(maxBatch >= 1)) throw new RangeError(`max batch size must be at least 1, got ${maxBatch}`);
  const out: { start: number; end: number }[] = [];
  for (let start = 0; start < n; start += maxBatch) out.push({ start, end: Math.min(n, start + maxBatch) });
  return out;
}

/**
 * Tokens for `seconds` of new music at a level, rounded up to whole sampling chunks as the
 * co-composition notebook does (`seconds_to_tokens`), and at most one context.
 */
export function secondsToChunkedTokens(seconds: number, sampleRate: number, rawToTokens: number, chunkSize: number, nCtx: number): number {
  const tokens = Math.floor((seconds * sampleRate) / rawToTokens);
  const chunked = (Math.floor(tokens / chunkSize) + 1) * chunkSize;
  if (chunked > nCtx) {
    throw new JukeboxError(`${seconds} s is ${chunked} tokens, more than one context of the prior (${nCtx} tokens, ${((nCtx * rawToTokens) / sampleRate).toFixed(2)} s); choose fewer seconds`);
  }
  return chunked;
}

/**
 * Windows for scoring `total` tokens with a prior of context `nCtx`: one window when the song fits
 * (padded past its end: causal attention keeps the padding out of earlier positions), else the
 * sampling windows, each scoring only the tokens the previous ones did not, so every token is
 * scored once with at least `nCtx - hop` tokens of context (or all that precede it). Starts are
 * multiples of `align` (an upsampler's conditioning downsampling): when the song's end is not, the
 * last window starts at the next multiple and runs past the end, padded like a short song.
 */
export function planScoreWindows(total: number, nCtx: number, hop: number, align = 1): { start: number; end: number; scoreFrom: number; scoreTo: number }[] {
  if (total <= nCtx) return [{ start: 0, end: nCtx, scoreFrom: 0, scoreTo: total }];
  let done = 0;
  return windowStarts(total, nCtx, hop).map((s) => {
    const start = Math.ceil(s / align) * align;
    const w = { start, end: start + nCtx, scoreFrom: done, scoreTo: Math.min(total, start + nCtx) };
    done = w.scoreTo;
    return w;
  });
}
