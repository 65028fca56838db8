import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { loadPrior } from '../../src/prior/load';
import { priorLossAndGrads } from '../../src/train/prior-trainer';
import { tensorLeak, useBackend } from '../helpers';

/**
 * One training step against openai/jukebox on the three fixture priors
 * (test/fixtures/prior/make_training_step.py): the reference's z_forward + backward gives every
 * loss term and every parameter's gradient norm; ours must agree to 1e-5 and 1e-3 relative.
 */

const DIR = path.join(__dirname, '..', 'fixtures', 'prior');
const r0 = (ref: Map<string, unknown>) => [...ref.keys()].filter((k) => k.startsWith('grad_norm/')).length;

beforeAll(useBackend);

describe.each(['top_1b_like', 'top_5b_like', 'upsampler_l1'])('%s: a training step as the reference takes it', (name) => {
  it('gives the reference loss terms and the gradient norm of every parameter', async () => {
    const io = readSafetensors(path.join(DIR, `${name}_io.safetensors`));
    const ref = readSafetensors(path.join(DIR, `${name}_train_step.safetensors`)).tensors;
    const prior = loadPrior(path.join(DIR, io.metadata.checkpoint), { labelIds: path.join(DIR, 'label_ids') }).model;
    const int32 = (key: string) => tf.tensor2d(io.tensors.get(key)!.data as Int32Array, io.tensors.get(key)!.shape as [number, number], 'int32');
    const z = int32('z');
    const y = int32('y');
    const zConds = io.tensors.has('z_cond') ? [int32('z_cond')] : null;
    const worst = { vsRef: 0, ours: { name: '', err: 0 }, theirs: 0 };
    const leak = await tensorLeak(() => {
      const r = priorLossAndGrads(prior, z, { y, zConds });
      const terms = { loss: r.loss, gen_loss: r.genLoss, prime_loss: r.primeLoss };
      for (const [key, got] of Object.entries(terms)) {
        const want = (ref.get(key)!.data as Float32Array)[0];
        const err = Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);
        console.log(`${name}: ${key} ${got} reference ${want} (relative error ${want === 0 ? Math.abs(got) : err.toExponential(2)})`);
        if (want === 0) expect(got).toBe(0);
        else expect(err).toBeLessThanOrEqual(1e-5);
      }
      const refNames = [...ref.keys()].filter((k) => k.startsWith('grad_norm/')).map((k) => k.slice('grad_norm/'.length));
      expect([...r.grads.keys()].sort()).toEqual(refNames.sort());
      for (const [param, g] of r.grads) {
        const got = tf.tidy(() => tf.norm(g).dataSync()[0]);
        const want = (ref.get(`grad_norm/${param}`)!.data as Float32Array)[0];
        const exact = (ref.get(`grad_norm_f64/${param}`)!.data as Float32Array)[0];
        const err = Math.abs(got - want) / want;
        const ours = Math.abs(got - exact) / exact;
        const theirs = Math.abs(want - exact) / exact;
        worst.vsRef = Math.max(worst.vsRef, err);
        if (ours > worst.ours.err) worst.ours = { name: param, err: ours };
        worst.theirs = Math.max(worst.theirs, theirs);
        expect.soft(ours, param).toBeLessThanOrEqual(1e-3);
      }
      tf.dispose([...r.grads.values()]);
    });
    console.log(`${name}: gradient norms of ${r0(ref)} parameters, worst relative error: ours vs the reference's float32 step ${worst.vsRef.toExponential(2)}; ` +
      `vs its float64 step: ours ${worst.ours.err.toExponential(2)} (${worst.ours.name}), the reference's float32 ${worst.theirs.toExponential(2)}`);
    expect(leak).toBe(0);
    tf.dispose([z, y, ...(zConds ?? [])]);
    prior.dispose();
  }, 120_000);
});
