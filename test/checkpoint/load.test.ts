import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromHps } from '../../src/checkpoint/hps';
import { loadVQVAE, readVQVAEStateDict, saveVQVAE, saveVQVAEStateDict } from '../../src/checkpoint/load';
import { vqvaePreset } from '../../src/checkpoint/presets';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import { randomVQVAE } from '../../src/vqvae/init';
import { tempDir, useBackend } from '../helpers';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const { dir, cleanup } = tempDir();
beforeAll(useBackend);
afterAll(cleanup);

describe('loading VQ-VAE checkpoints', () => {
  it('round-trips a model through safetensors exactly', async () => {
    const model = randomVQVAE(vqvaePreset('tiny'), 3);
    const file = path.join(dir, 'roundtrip.safetensors');
    await saveVQVAE(file, model);
    const loaded = loadVQVAE(file);
    expect(loaded.configSource).toBe('hps');
    expect(loaded.model.config).toEqual(model.config);
    for (const name of model.spec.keys()) {
      expect(Array.from(loaded.model.weights.get(name).dataSync())).toEqual(Array.from(model.weights.get(name).dataSync()));
    }
    model.dispose();
    loaded.model.dispose();
  });

  it('lists every missing, unexpected and mis-shaped key in one error', async () => {
    const state = readVQVAEStateDict(path.join(FIXTURES, 'tiny_vqvae_legacy.pth.tar'));
    const tensors = new Map(state.tensors);
    tensors.delete('decoders.2.out.bias');
    tensors.set('encoders.9.extra.weight', { shape: [2], data: new Float32Array(2) });
    tensors.set('bottleneck.level_blocks.0.k', { shape: [32, 16], data: new Float32Array(512) });
    const file = path.join(dir, 'broken.safetensors');
    await saveVQVAEStateDict(file, state.config, tensors);
    expect(() => loadVQVAE(file)).toThrow(
      /broken\.safetensors: state dict does not fit the model \(245 keys expected, 245 found\): 1 missing: decoders\.2\.out\.bias; 1 unexpected: encoders\.9\.extra\.weight; 1 mis-shaped: bottleneck\.level_blocks\.0\.k \(expected \[64,16\], got \[32,16\]\)/,
    );
  });

  it('accepts DistributedDataParallel key prefixes and finds the preset of a bare state dict', async () => {
    const state = readVQVAEStateDict(path.join(FIXTURES, 'tiny_vqvae_zip.pth'));
    const prefixed = new Map([...state.tensors].map(([k, v]) => [`module.${k}`, { dtype: 'F32' as const, shape: v.shape, data: v.data }]));
    const file = path.join(dir, 'bare.safetensors');
    await writeSafetensors(file, prefixed); // no hps metadata
    const { model, configSource } = loadVQVAE(file);
    expect(configSource).toBe("preset 'tiny' (matched by shapes)");
    const want = readSafetensors(path.join(FIXTURES, 'reference_io.safetensors')).tensors;
    const audio = want.get('audio')!.data as Float32Array;
    const [codes] = tf.tidy(() => model.encode(tf.tensor3d(audio, [1, audio.length, 1]), [2]));
    expect(Array.from(codes.dataSync())).toEqual(Array.from(want.get('codes_level_2')!.data as Int32Array));
    codes.dispose();
    model.dispose();
  });

  it('reads hps with the reference defaults for missing fields and checks the rest', () => {
    const cfg = configFromHps(new Map<string, unknown>([['levels', 2], ['downs_t', [3, 2]], ['strides_t', [2, 2]], ['sample_length', 65536n]]), 'x.pth');
    // hparams.py DEFAULTS: width 128, depth 3, l_bins 512, dilation_growth_rate 1, no multipliers.
    expect(cfg).toMatchObject({ sr: 44100, levels: 2, width: 128, depth: 3, l_bins: 512, dilation_growth_rate: 1, multipliers: [1, 1], reverse_decoder_dilation: true, sample_length: 65536 });
    expect(() => configFromHps(new Map<string, unknown>([['levels', 3], ['downs_t', [3, 2]]]), 'bad.pth')).toThrow(
      /bad\.pth: invalid VQ-VAE config: downs_t must list 3 non-negative integers \(one per level\), got \[3,2\]/,
    );
  });

  it('names the file and problem for missing files and directories', () => {
    expect(() => loadVQVAE(path.join(dir, 'nope.pth'))).toThrow(/nope\.pth: no such file/);
    expect(() => loadVQVAE(dir)).toThrow(/is a directory, not a checkpoint/);
  });
});

describe('files that are not models', () => {
  it('names a codes file for what it is', async () => {
    const { writeCodesFile } = await import('../../src/vqvae/codes-file');
    const file = path.join(dir, 'codes.safetensors');
    await writeCodesFile(file, new Map([[0, new Int32Array([1, 2, 3])]]), 22050, [4, 8, 16]);
    expect(() => loadVQVAE(file)).toThrow(/codes\.safetensors: is a codes file \(written by `jukebox encode`\), not a VQ-VAE checkpoint/);
  });
});

describe('half-precision checkpoints', () => {
  it('save as F16 at half the size and load back within half-precision rounding', async () => {
    await useBackend();
    const model = randomVQVAE(vqvaePreset('tiny'), 5);
    const [full, half] = [path.join(dir, 'full.safetensors'), path.join(dir, 'half.safetensors')];
    await saveVQVAE(full, model);
    await saveVQVAE(half, model, {}, { dtype: 'F16' });
    const fs = await import('fs');
    // The JSON header (245 names) is the same in both; the data halves.
    expect(fs.statSync(half).size).toBeLessThan(0.6 * fs.statSync(full).size);
    const loaded = loadVQVAE(half).model;
    for (const name of ['encoders.0.level_blocks.0.model.0.0.weight', 'bottleneck.level_blocks.2.k']) {
      const a = model.weights.get(name).dataSync();
      const b = loaded.weights.get(name).dataSync();
      a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 6e-8));
    }
    model.dispose();
    loaded.dispose();
  });
});
