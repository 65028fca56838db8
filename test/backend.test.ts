import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { writeWav } from '../src/audio';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { tempDir } from './helpers';

const ROOT = path.join(__dirname, '..');
const CKPT = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');

function infoWith(backend: string | undefined) {
  const env = { ...process.env };
  if (backend === undefined) delete env.JUKEBOX_BACKEND;
  else env.JUKEBOX_BACKEND = backend;
  return spawnSync(process.execPath, [path.join(ROOT, 'src', 'cli', 'bin.js'), 'info', CKPT, '--json'], { encoding: 'utf8', env });
}

describe('backend selection', () => {
  it('takes the fastest installed backend by default (wasm here: tfjs-node is not installed)', () => {
    const r = infoWith(undefined);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).backend).toBe('wasm');
  });

  it('obeys JUKEBOX_BACKEND, and the model gives the reference codes on that backend too', async () => {
    const r = infoWith('cpu');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'cpu', parameters: 41795 });
    const io = readSafetensors(path.join(ROOT, 'test', 'fixtures', 'reference', 'reference_io.safetensors')).tensors;
    const { dir, cleanup } = tempDir();
    try {
      const wav = path.join(dir, 'clip.wav');
      await writeWav(wav, io.get('audio')!.data as Float32Array, 22050);
      const out = path.join(dir, 'codes.safetensors');
      const enc = spawnSync(process.execPath, [path.join(ROOT, 'src', 'cli', 'bin.js'), 'encode', wav, '--vqvae', CKPT, '--out', out],
        { encoding: 'utf8', env: { ...process.env, JUKEBOX_BACKEND: 'cpu' } });
      expect(enc.status, enc.stderr).toBe(0);
      const codes = readSafetensors(out).tensors;
      for (const level of [0, 1, 2]) {
        expect(Array.from(codes.get(`level_${level}`)!.data as Int32Array)).toEqual(Array.from(io.get(`codes_level_${level}`)!.data as Int32Array));
      }
    } finally {
      cleanup();
    }
  });

  it('says clearly when the asked-for backend is missing or unknown', () => {
    const missing = infoWith('node');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/JUKEBOX_BACKEND=node was asked for, but that backend is not installed/);
    const unknown = infoWith('quantum');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/JUKEBOX_BACKEND='quantum' is not a backend \(choose one of gpu, node, wasm, cpu\)/);
  });
});
