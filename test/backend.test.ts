import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { writeWav } from '../src/audio';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { runJukeboxWithEnv, tempDir } from './helpers';

const ROOT = path.join(__dirname, '..');
const CKPT = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');

/** `jukebox info CKPT --json` with JUKEBOX_BACKEND set to `backend`, or unset (empty) for undefined. */
function infoWith(backend: string | undefined) {
  return runJukeboxWithEnv({ JUKEBOX_BACKEND: backend ?? '' }, 'info', CKPT, '--json');
}

describe('backend selection', () => {
  it('takes the fastest installed backend by default (wasm here: tfjs-node is not installed)', async () => {
    const r = await infoWith(undefined);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).backend).toBe('wasm');
  });

  it('obeys JUKEBOX_BACKEND, and the model gives the reference codes on that backend too', async () => {
    const r = await infoWith('cpu');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'cpu', parameters: 41795 });
    const io = readSafetensors(path.join(ROOT, 'test', 'fixtures', 'reference', 'reference_io.safetensors')).tensors;
    const { dir, cleanup } = tempDir();
    try {
      const wav = path.join(dir, 'clip.wav');
      await writeWav(wav, io.get('audio')!.data as Float32Array, 22050);
      const out = path.join(dir, 'codes.safetensors');
      const enc = await runJukeboxWithEnv({ JUKEBOX_BACKEND: 'cpu' }, 'encode', wav, '--vqvae', CKPT, '--out', out);
      expect(enc.code, enc.stderr).toBe(0);
      const codes = readSafetensors(out).tensors;
      for (const level of [0, 1, 2]) {
        expect(Array.from(codes.get(`level_${level}`)!.data as Int32Array)).toEqual(Array.from(io.get(`codes_level_${level}`)!.data as Int32Array));
      }
    } finally {
      cleanup();
    }
  });

  it('says clearly when the asked-for backend is missing or unknown', async () => {
    const missing = await infoWith('node');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/JUKEBOX_BACKEND=node was asked for, but that backend is not installed/);
    expect(missing.stderr).toMatch(/npm install @tensorflow\/tfjs-node@4\.22\.0/);
    const unknown = await infoWith('quantum');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/JUKEBOX_BACKEND='quantum' is not a backend \(choose one of gpu, node, tensorflow, webgpu, wasm, cpu\)/);
  });

  it('names what to install for each GPU backend, on one line', async () => {
    for (const [backend, hint] of [
      ['gpu', /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0 \(Linux x64, CUDA 11\.2 and cuDNN 8\.1\)/],
      ['tensorflow', /tfjs-node-gpu@4\.22\.0 or @tensorflow\/tfjs-node@4\.22\.0/],
      ['webgpu', /npm install webgpu @tensorflow\/tfjs-backend-webgpu@4\.22\.0/],
    ] as const) {
      const r = await infoWith(backend);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(hint);
    }
  });
});
