import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveVQVAE } from '../../src/checkpoint/load';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { openSafetensors, readSafetensors, SafetensorsTensor, writeSafetensors } from '../../src/checkpoint/safetensors';
import { readLabelIdTables } from '../../src/labels';
import {
  checkBackendCapacity, loadPrior, priorFloat32Bytes, randomPrior, savePrior, WASM_MAX_MODEL_BYTES,
} from '../../src/prior/load';
import { PRIOR_PRESET_NAMES, priorPreset } from '../../src/prior/presets';
import { Prior } from '../../src/prior/prior';
import { randomVQVAE } from '../../src/vqvae/init';
import { tempDir, tensorLeak, useBackend } from '../helpers';
import { METAS, TINY, jukeboxErrorOf, windowInputs } from './helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'prior');
const { dir, cleanup } = tempDir('jukebox-prior-load-');
beforeAll(useBackend);
afterAll(cleanup);

function logits(prior: Prior): Float32Array {
  const { z, y, zConds } = windowInputs(prior);
  const r = prior.forward(z, { y, zConds, getPreds: true });
  const out = r.preds!.dataSync() as Float32Array;
  tf.dispose([z, y ?? [], ...(zConds ?? []), r.preds!].flat());
  return out;
}

/** Rewrites a safetensors file through `edit` (metadata and tensors). */
async function rewrite(src: string, dst: string, edit: (t: Map<string, SafetensorsTensor>, m: Record<string, string>) => void): Promise<void> {
  const { tensors, metadata } = readSafetensors(src);
  edit(tensors, metadata);
  await writeSafetensors(dst, tensors, metadata);
}

describe('savePrior / loadPrior', () => {
  it('round-trips every structure through safetensors: same logits, reference keys (tied alias included), hps', async () => {
    const configs = { ...TINY, posInit: { ...TINY.top5b, pos_init: true, prime_pos_init: true } };
    for (const name of ['top1b', 'top5b', 'upsampler', 'posInit'] as const) {
      const prior = randomPrior(configs[name], 11);
      const file = path.join(dir, `${name}.safetensors`);
      await savePrior(file, prior, { note: 'hello' });
      const header = openSafetensors(file);
      header.close();
      expect(header.metadata.format).toBe('jukebox-ts/prior');
      expect(header.metadata.note).toBe('hello');
      expect(JSON.parse(header.metadata.hps).n_ctx).toBe(64);
      // Tied heads are saved under both names, as the reference state_dict holds them.
      expect(header.entries.has('prior.x_out.weight')).toBe(true);
      // pos_init keeps the reference's position-index buffer (`pos_emb.pos`) in the state dict.
      const buffers = configs[name].pos_init ? 2 : 0;
      if (buffers > 0) expect(header.entries.get('prior.pos_emb.pos')).toMatchObject({ dtype: 'I64', shape: [64, 1] });
      expect(header.entries.size).toBe(prior.spec.size + (configs[name].merged_decoder ? 0 : 1) + buffers);
      const leak = await tensorLeak(() => {
        const { model, format, configSource } = loadPrior(file);
        expect([format, configSource]).toEqual(['safetensors', 'hps']);
        expect(model.config).toEqual(prior.config);
        expect(Array.from(logits(model))).toEqual(Array.from(logits(prior)));
        model.dispose();
      });
      expect(leak).toBe(0);
      prior.dispose();
    }
  });

  it('loads float16 storages as float32', async () => {
    const prior = randomPrior(TINY.upsampler, 2);
    const f32 = path.join(dir, 'f32.safetensors');
    const f16 = path.join(dir, 'f16.safetensors');
    await savePrior(f32, prior);
    await savePrior(f16, prior, {}, { dtype: 'F16' });
    expect(fs.statSync(f16).size).toBeLessThan(0.55 * fs.statSync(f32).size);
    const { model } = loadPrior(f16);
    const name = 'prior.transformer._attn_mods.0.attn.c_attn.w';
    const want = (readSafetensors(f16).tensors.get(name)!.data as Uint16Array).length;
    expect(model.weights.get(name).dtype).toBe('float32');
    expect(model.weights.get(name).size).toBe(want);
    const a = model.weights.get(name).dataSync();
    const b = prior.weights.get(name).dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(b[i]) * 2 ** -11 + 1e-7);
    model.dispose();
    prior.dispose();
  });

  it('carries the label id tables in the metadata, so names resolve without --label-ids', async () => {
    const tables = readLabelIdTables(path.join(FIXTURES, 'label_ids'), 'v2');
    const prior = randomPrior(TINY.top5b, 4, { labelTables: tables });
    const file = path.join(dir, 'tables.safetensors');
    await savePrior(file, prior);
    const { model } = loadPrior(file);
    const labels = model.labeller!.getBatchLabels([{ ...METAS[0], artistId: undefined, genreId: undefined, artist: 'Nora Quill', genre: 'jazz' }]);
    expect(Array.from(labels.y[0].subarray(3, 6))).toEqual([2, 3, -1]);
    model.dispose();
    prior.dispose();
  });
});

describe('loading errors are one line', () => {
  let saved: string;
  beforeAll(async () => {
    const prior = randomPrior(TINY.upsampler, 5);
    saved = path.join(dir, 'ok.safetensors');
    await savePrior(saved, prior);
    prior.dispose();
  });

  async function messageOf(file: string, opts = {}): Promise<string> {
    const before = tf.memory().numTensors;
    const err = jukeboxErrorOf(() => loadPrior(file, opts));
    expect(tf.memory().numTensors).toBe(before);
    expect(err.message).not.toContain('\n');
    return err.message;
  }

  it('wrong shapes and missing keys', async () => {
    const bad = path.join(dir, 'bad.safetensors');
    await rewrite(saved, bad, (t) => {
      const k = 'prior.transformer._attn_mods.1.attn.c_attn.w';
      const v = t.get(k)!;
      t.set(k, { dtype: 'F32', shape: [v.shape[1], v.shape[0]], data: v.data });
      t.delete('conditioner_blocks.0.ln.bias');
    });
    const msg = await messageOf(bad);
    expect(msg).toMatch(/^.*bad\.safetensors: state dict does not fit the model/);
    expect(msg).toContain('1 missing: conditioner_blocks.0.ln.bias');
    expect(msg).toContain('1 mis-shaped: prior.transformer._attn_mods.1.attn.c_attn.w (expected [32,24], got [24,32])');
  });

  it('an unknown preset, and a headerless file that matches no preset', async () => {
    expect(await messageOf(saved, { preset: 'huge' })).toBe(`unknown prior preset 'huge' (known: ${PRIOR_PRESET_NAMES.join(', ')})`);
    const bare = path.join(dir, 'bare.safetensors');
    await rewrite(saved, bare, (_t, m) => {
      delete m.hps;
      delete m.format;
    });
    expect(await messageOf(bare)).toContain("has no 'hps' and its parameters match no preset");
    expect(await messageOf(bare, { preset: 'upsampler_level_1' })).toContain('state dict does not fit the model');
  });

  it('files that are not priors', async () => {
    const vqvae = path.join(dir, 'vqvae.safetensors');
    const m = randomVQVAE(vqvaePreset('tiny'), 0);
    await saveVQVAE(vqvae, m);
    m.dispose();
    expect(await messageOf(vqvae)).toBe(`${vqvae}: is a VQ-VAE checkpoint, not a prior`);
    const torchVqvae = path.join(__dirname, '..', 'fixtures', 'reference', 'tiny_vqvae_legacy.pth.tar');
    expect(await messageOf(torchVqvae)).toBe(`${torchVqvae}: is a VQ-VAE checkpoint, not a prior`);
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'just some words, not a model\n');
    expect(await messageOf(text)).toContain('not a PyTorch checkpoint');
    expect(await messageOf(path.join(dir, 'missing.pth.tar'))).toContain('no such file');
  });
});

describe('backend capacity', () => {
  it('refuses a model the wasm heap cannot hold, advising tfjs-node, before allocating anything', () => {
    const bytes = priorFloat32Bytes(priorPreset('1b_lyrics'));
    expect(bytes).toBeGreaterThan(WASM_MAX_MODEL_BYTES);
    const err = jukeboxErrorOf(() => checkBackendCapacity(bytes, 'prior_level_2.pth.tar', 'wasm'));
    expect(err.message).toMatch(/^prior_level_2\.pth\.tar: the model needs 3\.8 GB of float32 weights/);
    expect(err.message).toContain('install @tensorflow/tfjs-node (or @tensorflow/tfjs-node-gpu)');
    expect(() => checkBackendCapacity(bytes, 'x', 'tensorflow')).not.toThrow();
    if (tf.getBackend() === 'wasm') {
      const before = tf.memory().numTensors;
      expect(jukeboxErrorOf(() => randomPrior(priorPreset('5b_lyrics'), 0)).message).toContain('tfjs-node');
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('knows the published models\' sizes', () => {
    const params = Object.fromEntries(['5b', '5b_lyrics', '1b_lyrics', 'upsampler_level_0', 'upsampler_level_1']
      .map((name) => [name, priorFloat32Bytes(priorPreset(name)) / 4]));
    expect(params).toEqual({
      '5b': 5_060_452_800,
      '5b_lyrics': 5_640_506_800,
      '1b_lyrics': 942_643_200,
      upsampler_level_0: 981_298_176,
      upsampler_level_1: 981_298_176,
    });
  });
});
