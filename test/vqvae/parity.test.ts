import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVQVAE } from '../../src/checkpoint/load';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { encodeChunked } from '../../src/vqvae/streaming';
import { VQVAE } from '../../src/vqvae/vqvae';
import { relativeL2, tensorLeak, useBackend } from '../helpers';

/**
 * Parity with openai/jukebox: fixtures made by running the reference code on the `tiny` preset
 * (test/fixtures/reference/make_reference.py). The contract: identical codes at every level,
 * decoded audio within 1e-4 relative L2 error.
 */
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const io = readSafetensors(path.join(FIXTURES, 'reference_io.safetensors')).tensors;
const f32 = (name: string) => io.get(name)!.data as Float32Array;
const i32 = (name: string) => io.get(name)!.data as Int32Array;

beforeAll(useBackend);

describe.each([
  ['legacy .pth.tar', 'tiny_vqvae_legacy.pth.tar', 'torch-legacy'],
  ['zip .pth', 'tiny_vqvae_zip.pth', 'torch-zip'],
])('reference parity, %s checkpoint', (_label, file, format) => {
  let model: VQVAE;
  beforeAll(() => {
    const loaded = loadVQVAE(path.join(FIXTURES, file));
    expect(loaded.format).toBe(format);
    expect(loaded.configSource).toBe('hps');
    model = loaded.model;
  });
  afterAll(() => model.dispose());

  it('configures the model from the checkpoint hps', () => {
    expect(model.config).toMatchObject({ sr: 22050, levels: 3, downs_t: [2, 1, 1], emb_width: 16, l_bins: 64, width: 8, depth: 2, multipliers: [2, 1, 1], sample_length: 4096 });
    expect(model.hopLengths).toEqual([4, 8, 16]);
    expect(model.numParameters).toBe(41_795);
  });

  it('encodes to exactly the reference codes at every level', () => {
    const audio = f32('audio');
    const zs = tf.tidy(() => model.encode(tf.tensor3d(audio, [1, audio.length, 1])));
    for (let level = 0; level < 3; level++) {
      expect(zs[level].shape).toEqual([1, audio.length / model.hopLengths[level]]);
      expect(Array.from(zs[level].dataSync())).toEqual(Array.from(i32(`codes_level_${level}`)));
    }
    zs.forEach((z) => z.dispose());
  });

  it('matches the reference latents before quantisation', () => {
    const audio = f32('audio');
    for (let level = 0; level < 3; level++) {
      const ours = tf.tidy(() => model.encodeLatents(tf.tensor3d(audio, [1, audio.length, 1]), level).squeeze([0]).transpose());
      const want = f32(`encoder_out_level_${level}`); // [1, C, T]
      const got = ours.dataSync() as Float32Array;
      ours.dispose();
      expect(got.length).toBe(want.length);
      expect(relativeL2(got, want)).toBeLessThan(1e-5);
    }
  });

  it('encodes an odd-length clip (not a multiple of the hop) like the reference', async () => {
    const audio = f32('odd_audio');
    const codes = await encodeChunked(model, { sampleRate: 22050, length: audio.length, read: (s, e) => {
      const out = new Float32Array(e - s);
      out.set(audio.subarray(Math.max(0, s), Math.min(audio.length, e)), Math.max(0, -s));
      return out;
    } }, [0, 1, 2], { chunkSamples: 1024 });
    for (let level = 0; level < 3; level++) {
      expect(Array.from(codes[level])).toEqual(Array.from(i32(`odd_codes_level_${level}`)));
    }
  });

  it('decodes each level within 1e-4 relative L2 of the reference, leaking no tensors', async () => {
    for (let level = 0; level < 3; level++) {
      const codes = tf.tensor2d(i32(`codes_level_${level}`), [1, i32(`codes_level_${level}`).length], 'int32');
      let audio: Float32Array = new Float32Array();
      expect(await tensorLeak(async () => {
        const y = model.decode(codes, level);
        audio = (await y.data()) as Float32Array;
        y.dispose();
      })).toBe(0);
      codes.dispose();
      const want = f32(`decoded_level_${level}`);
      expect(audio.length).toBe(want.length);
      expect(relativeL2(audio, want)).toBeLessThan(1e-4);
    }
  });

  it('leaks no tensors when encoding', async () => {
    const x = tf.tensor3d(f32('audio'), [1, f32('audio').length, 1]);
    expect(await tensorLeak(() => model.encode(x).forEach((z) => z.dispose()))).toBe(0);
    x.dispose();
  });
});
