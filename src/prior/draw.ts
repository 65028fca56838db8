import type { Rng } from '../rng';
import { filterLogitsRows } from './ops';

/*
 * The token draw, apart from autoregressive.ts because both the tfjs token loop there and the fast
 * path (fast/sampler.ts, which autoregressive.ts imports) use it: importing it from
 * autoregressive.ts made an import cycle, which the tslab notebook kernel's loader cannot follow.
 */

/** How each sampled token is drawn from the logits (reference `temp`, `top_k`, `top_p`). */
export interface SamplingSettings {
  /** Logits are divided by this before filtering. */
  temperature: number;
  /** Keep the k most likely tokens (0: all). top-k 1 is greedy. */
  topK: number;
  /** Keep the most likely tokens whose probabilities sum past p (0: all). */
  topP: number;
  rng: Rng;
}

/**
 * Draws one token from a row of logits as the reference does: divide by the temperature (in
 * float32), filter (`filter_logits`: top-k, then top-p), then sample the softmax of what is left
 * with `rng`. A greedy setting (top-k 1) picks the largest logit whatever the draw.
 */
export function drawToken(logits: Float32Array, s: SamplingSettings): number {
  const v = logits.length;
  const x = new Float32Array(v);
  for (let i = 0; i < v; i++) x[i] = logits[i] / s.temperature;
  filterLogitsRows(x, v, s.topK, s.topP);
  let max = -Infinity;
  for (let i = 0; i < v; i++) if (x[i] > max) max = x[i];
  const p = new Float64Array(v);
  let sum = 0;
  for (let i = 0; i < v; i++) {
    p[i] = x[i] === -Infinity ? 0 : Math.exp(x[i] - max);
    sum += p[i];
  }
  let u = s.rng.uniform() * sum;
  let last = 0;
  for (let i = 0; i < v; i++) {
    if (p[i] === 0) continue;
    last = i;
    u -= p[i];
    if (u < 0) return i;
  }
  return last;
}
