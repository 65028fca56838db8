import * as tf from '@tensorflow/tfjs';
import type { SamplingPriorOptions, ScoringPrior } from '../../src/sample/types';

export interface Meta { id: number }
export interface FakeLabels { ids: number[] }

/** What one `sample` call received, for checking the slices the orchestration passes. */
export interface SampleCall {
  start: number;
  nSamples: number;
  sampleTokens: number;
  z: number[][] | null;
  zConds: number[][] | null;
  items: number[];
}

/** The token a fake top prior puts at absolute position p of item `id`. */
export function topToken(p: number, id: number, bins: number): number {
  return (p * 7 + id * 3 + 1) % bins;
}

/**
 * A deterministic stand-in with the Prior's sampling surface: `getY` writes the window start and
 * the item's id into y, so `sample` knows where each window sits. The top prior puts
 * `topToken(p, id)` at absolute position p; an upsampler copies, at each position, the code of the
 * level above that its conditioning slice holds there, so any mis-sliced conditioning shows up in
 * the tokens. Every call's inputs are recorded, and every context it is given is checked.
 */
export function fakePrior(opts: { level: number; nCtx: number; rawToTokens: number; condDownsample: number | null; lBins?: number; shift?: number }): ScoringPrior<Meta, FakeLabels> & { calls: SampleCall[]; forwards: SampleCall[]; errors: string[] } {
  const calls: SampleCall[] = [];
  const forwards: SampleCall[] = [];
  const shift = opts.shift ?? 0;
  const errors: string[] = [];
  const bins = opts.lBins ?? 64;
  return {
    level: opts.level,
    nCtx: opts.nCtx,
    rawToTokens: opts.rawToTokens,
    sampleRate: 16000,
    condDownsample: opts.condDownsample,
    lBins: bins,
    nTokens: 0,
    singleEncDec: false,
    calls,
    forwards,
    errors,
    /**
     * Teacher-forced logits: 3 at the column of the token the fake sampler would put at each
     * absolute position (`shift` lyric columns first), 0 elsewhere; `shift` extra positions first.
     */
    forward(z, o) {
      const y = o.y!.arraySync() as number[][];
      const start = y[0][0];
      const zConds = o.zConds ? (o.zConds[0].arraySync() as number[][]) : null;
      forwards.push({ start, nSamples: z.shape[0], sampleTokens: z.shape[1], z: z.arraySync() as number[][], zConds, items: y.map((r) => r[1]) });
      const v = bins + shift;
      const positions = shift + opts.nCtx;
      const data = new Float32Array(z.shape[0] * positions * v);
      y.forEach(([, id], i) => {
        for (let t = 0; t < opts.nCtx; t++) {
          const want = opts.condDownsample === null ? topToken(start + t, id, bins) : zConds![i][Math.floor(t / opts.condDownsample)];
          data[(i * positions + shift + t) * v + shift + want] = 3;
        }
      });
      return { preds: tf.tensor3d(data, [z.shape[0], positions, v]) };
    },
    labeller: { getBatchLabels: (metas) => ({ ids: metas.map((m) => m.id) }) },
    getY: (labels, start) => ({ y: tf.tensor2d(labels.ids.map((id) => [start, id]), [labels.ids.length, 2], 'int32'), indices: labels.ids.map(() => []) }),
    async sample(o: SamplingPriorOptions) {
      const y = o.y!.arraySync() as number[][];
      const start = y[0][0];
      const items = y.map((r) => r[1]);
      const z = o.z ? (o.z.arraySync() as number[][]) : null;
      const zConds = o.zConds ? (o.zConds[0].arraySync() as number[][]) : null;
      calls.push({ start, nSamples: o.nSamples, sampleTokens: o.sampleTokens ?? opts.nCtx, z, zConds, items });
      const length = o.sampleTokens ?? opts.nCtx;
      const out: number[][] = items.map((id, i) => {
        const row: number[] = [];
        for (let j = 0; j < length; j++) {
          const expected = opts.condDownsample === null ? topToken(start + j, id, bins) : zConds![i][Math.floor(j / opts.condDownsample)];
          if (z && j < z[i].length) {
            if (z[i][j] !== expected) errors.push(`window ${start}: context token ${j} of item ${id} is ${z[i][j]}, expected ${expected}`);
            row.push(z[i][j]);
          } else {
            row.push(expected);
          }
        }
        return row;
      });
      o.onToken?.(length, length);
      return tf.tensor2d(out, [items.length, length], 'int32');
    },
  };
}
