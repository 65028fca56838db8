import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeAudioFile, writeWav } from '../../src/audio';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { runJukebox, tempDir } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const ZIP = path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth');
const AUDIO = path.join(ROOT, 'test', 'fixtures', 'audio');

/** `jukebox ...args` from the repository root, the backend left to its own choice. */
const jukebox = runJukebox;

const { dir, cleanup } = tempDir();
afterAll(cleanup);

/** The codes of every level in a codes file, by tensor name. */
function codesOf(file: string): Record<string, number[]> {
  const { tensors } = readSafetensors(file);
  return Object.fromEntries([...tensors].map(([name, t]) => [name, Array.from(t.data as Int32Array)]));
}

describe('jukebox encode: Ogg Vorbis and Ogg Opus', () => {
  // Each file encodes to exactly the codes of its decoded samples written as a WAV: the
  // command takes the Ogg file through the same path (decode, downmix, resample) with no
  // conversion step. Opus in a file named .ogg is read by its content.
  it.each([
    ['stereo-44100.ogg', 'song.ogg', 5513],
    ['stereo-48000.opus', 'song.opus', 5513],
    ['stereo-48000.opus', 'opus-inside.ogg', 5513],
  ])('%s as %s', async (fixture, name, samples) => {
    const input = path.join(dir, name);
    fs.copyFileSync(path.join(AUDIO, fixture), input);
    const out = path.join(dir, `${name}.safetensors`);
    const r = await jukebox('encode', input, '--vqvae', ZIP, '--out', out);
    expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(r.code).toBe(0);
    const meta = readSafetensors(out).metadata;
    expect(meta.sample_rate).toBe('22050');
    expect(meta.samples).toBe(String(samples)); // 0.25 s at the model's 22050 Hz

    const decoded = await decodeAudioFile(input);
    const wav = path.join(dir, `${name}.wav`);
    await writeWav(wav, decoded.channels, decoded.sampleRate, { format: 'float32' });
    const viaWav = path.join(dir, `${name}.wav.safetensors`);
    expect((await jukebox('encode', wav, '--vqvae', ZIP, '--out', viaWav)).code).toBe(0);
    expect(codesOf(out)).toEqual(codesOf(viaWav));
  });

  it('a cut Ogg file: exit 1, one line naming it, no output', async () => {
    const cut = path.join(dir, 'cut.ogg');
    fs.writeFileSync(cut, fs.readFileSync(path.join(AUDIO, 'stereo-44100.ogg')).subarray(0, 4000));
    const out = path.join(dir, 'cut.safetensors');
    const r = await jukebox('encode', cut, '--vqvae', ZIP, '--out', out);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('npm warn'));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^jukebox: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated Ogg file: it ends inside page 2 `))]);
    expect(fs.existsSync(out)).toBe(false);
  });
});
