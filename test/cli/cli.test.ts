import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWavMono, writeWav } from '../../src/audio';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { musicLike, relativeL2, runJukebox, tempDir } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'reference');
const LEGACY = path.join(FIXTURES, 'tiny_vqvae_legacy.pth.tar');
const ZIP = path.join(FIXTURES, 'tiny_vqvae_zip.pth');
const io = readSafetensors(path.join(FIXTURES, 'reference_io.safetensors')).tensors;

/** `jukebox ...args` from the repository root, the backend left to its own choice. */
const jukebox = runJukebox;

/** Files in `dir`, hidden temporaries included, so a leftover partial output shows up. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

const { dir, cleanup } = tempDir();
afterAll(cleanup);

describe('jukebox encode / decode', () => {
  it('encodes the reference clip to the reference codes, with the contract metadata', async () => {
    const wav = path.join(dir, 'reference.wav');
    await writeWav(wav, io.get('audio')!.data as Float32Array, 22050, { format: 'float32' });
    const out = path.join(dir, 'codes.safetensors');
    const r = await jukebox('encode', wav, '--vqvae', LEGACY, '--out', out);
    expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    expect(r.code).toBe(0);
    const codes = readSafetensors(out);
    expect(codes.metadata.sample_rate).toBe('22050');
    expect(JSON.parse(codes.metadata.hop_lengths)).toEqual([4, 8, 16]);
    for (let level = 0; level < 3; level++) {
      const t = codes.tensors.get(`level_${level}`)!;
      expect(t.dtype).toBe('I32');
      expect(t.shape).toEqual([1, 4096 / [4, 8, 16][level]]);
      expect(Array.from(t.data as Int32Array)).toEqual(Array.from(io.get(`codes_level_${level}`)!.data as Int32Array));
    }
  });

  it('encodes only the levels asked, from a 48 kHz stereo 16-bit file', async () => {
    const wav = path.join(dir, 'stereo48k.wav');
    await writeWav(wav, [musicLike(48000, 48000, 1), musicLike(48000, 48000, 2)], 48000, { format: 'pcm16' });
    const out = path.join(dir, 'codes12.safetensors');
    expect((await jukebox('encode', wav, '--vqvae', ZIP, '--levels', '2,1', '--out', out)).code).toBe(0);
    const codes = readSafetensors(out);
    // 1 s at 48 kHz resamples to 22050 samples: 2756 tokens at hop 8, 1378 at hop 16.
    expect([...codes.tensors.keys()].sort()).toEqual(['level_1', 'level_2']);
    expect(codes.tensors.get('level_1')!.shape).toEqual([1, 2756]);
    expect(codes.tensors.get('level_2')!.shape).toEqual([1, 1378]);
  });

  it('decodes one level to a float WAV at the model rate matching the reference decode', async () => {
    const out = path.join(dir, 'level1.wav');
    const r = await jukebox('decode', path.join(dir, 'codes.safetensors'), '--vqvae', ZIP, '--level', '1', '--out', out);
    expect(r.code).toBe(0);
    const buf = fs.readFileSync(out);
    expect(buf.readUInt16LE(20)).toBe(3); // WAVE_FORMAT_IEEE_FLOAT
    expect(buf.readUInt16LE(34)).toBe(32);
    const { sampleRate, samples } = readWavMono(out);
    expect(sampleRate).toBe(22050);
    const want = io.get('decoded_level_1')!.data as Float32Array;
    expect(samples.length).toBe(want.length);
    expect(relativeL2(samples, want)).toBeLessThan(1e-4);
  });
});

describe('jukebox with worker threads', () => {
  it('--workers 2 writes byte-identical codes and audio', async () => {
    const wav = path.join(dir, 'stereo48k.wav');
    const [one, two] = [path.join(dir, 'w1.safetensors'), path.join(dir, 'w2.safetensors')];
    expect((await jukebox('encode', wav, '--vqvae', ZIP, '--out', one, '--chunk-seconds', '0.2')).code).toBe(0);
    expect((await jukebox('encode', wav, '--vqvae', ZIP, '--out', two, '--chunk-seconds', '0.2', '--workers', '2')).code).toBe(0);
    expect(fs.readFileSync(two).equals(fs.readFileSync(one))).toBe(true);
    const [a, b] = [path.join(dir, 'w1.wav'), path.join(dir, 'w2.wav')];
    expect((await jukebox('decode', one, '--vqvae', ZIP, '--level', '0', '--out', a)).code).toBe(0);
    expect((await jukebox('decode', one, '--vqvae', ZIP, '--level', '0', '--out', b, '--workers', '2')).code).toBe(0);
    expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  });
});

describe('jukebox convert / info', () => {
  it('converts a legacy checkpoint to safetensors with reference key names and hps metadata', async () => {
    const out = path.join(dir, 'tiny.safetensors');
    expect((await jukebox('convert', LEGACY, '--out', out)).code).toBe(0);
    const st = readSafetensors(out);
    const keys = fs.readFileSync(path.join(FIXTURES, 'state_dict_keys.txt'), 'utf8').split('\n').filter((l) => /^\S+\s+\[/.test(l)).map((l) => l.split(/\s+/)[0]);
    expect(keys.length).toBe(245);
    expect([...st.tensors.keys()].sort()).toEqual([...keys].sort());
    expect(JSON.parse(st.metadata.hps)).toMatchObject({ sr: 22050, downs_t: [2, 1, 1], hvqvae_multipliers: [2, 1, 1], l_bins: 64 });
    // The converted file encodes exactly like the original.
    const codesOut = path.join(dir, 'codes-converted.safetensors');
    expect((await jukebox('encode', path.join(dir, 'reference.wav'), '--vqvae', out, '--levels', '0', '--out', codesOut)).code).toBe(0);
    expect(Array.from(readSafetensors(codesOut).tensors.get('level_0')!.data as Int32Array)).toEqual(Array.from(io.get('codes_level_0')!.data as Int32Array));
  });

  it('describes a checkpoint', async () => {
    const r = await jukebox('info', ZIP);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/preset:\s+tiny/);
    expect(r.stdout).toMatch(/hop lengths:\s+4, 8, 16/);
    expect(r.stdout).toMatch(/codebooks:\s+3 x 64 codes x 16 dims/);
    expect(r.stdout).toMatch(/parameters:\s+41,795/);
    expect(r.stdout).toMatch(/backend:\s+wasm/);
    const json = JSON.parse((await jukebox('info', path.join(dir, 'tiny.safetensors'), '--json')).stdout);
    expect(json).toMatchObject({ format: 'safetensors', levels: 3, hop_lengths: [4, 8, 16], parameters: 41795, preset: 'tiny' });
  });
});

describe('jukebox errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['a missing audio file', ['encode', 'missing.wav', '--vqvae', ZIP, '--out', 'OUT'], /missing\.wav: no such file/],
    ['a checkpoint given as audio', ['encode', ZIP, '--vqvae', ZIP, '--out', 'OUT'], /tiny_vqvae_zip\.pth: not a WAV file/],
    ['audio given as a checkpoint', ['encode', 'WAV', '--vqvae', 'WAV', '--out', 'OUT'], /reference\.wav: not a PyTorch checkpoint/],
    ['a level the model lacks', ['encode', 'WAV', '--vqvae', ZIP, '--levels', '0,3', '--out', 'OUT'], /--levels: '3' is not a level/],
    ['a missing option', ['encode', 'WAV', '--vqvae', ZIP], /--out is required/],
    ['an unknown option', ['decode', 'CODES', '--vqvae', ZIP, '--lvl', '1', '--out', 'OUT'], /Unknown option '--lvl'/],
    ['a level not in the codes file', ['decode', 'CODES12', '--vqvae', ZIP, '--level', '0', '--out', 'OUT'], /codes12\.safetensors: has no codes for level 0 \(it holds level_1, level_2\)/],
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ];
  it.each(cases)('%s: exit 1, one line naming the problem, no output file', async (_label, args, pattern) => {
    const before = listing(dir);
    const out = path.join(dir, 'should-not-exist.out');
    const resolved = args.map((a) => ({ OUT: out, WAV: path.join(dir, 'reference.wav'), CODES: path.join(dir, 'codes.safetensors'), CODES12: path.join(dir, 'codes12.safetensors') } as Record<string, string>)[a] ?? a);
    const r = await jukebox(...resolved);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('npm warn'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^jukebox: /);
    expect(lines[0]).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(listing(dir)).toEqual(before);
  });

  it('leaves no partial WAV when decoding fails midway, and --debug adds the stack', async () => {
    // Codes from a bigger codebook than the model's: the error is found while the WAV is being written.
    const bad = path.join(dir, 'bad-codes.safetensors');
    const codes = new Int32Array(64).fill(3);
    codes[40] = 999;
    fs.writeFileSync(bad, Buffer.concat([]));
    const { writeCodesFile } = await import('../../src/vqvae/codes-file');
    await writeCodesFile(bad, new Map([[0, codes]]), 22050, [4, 8, 16]);
    const before = listing(dir);
    const r = await jukebox('decode', bad, '--vqvae', ZIP, '--level', '0', '--out', path.join(dir, 'partial.wav'), '--debug');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/code 999 at token 40 is outside the codebook/);
    expect(r.stderr).toMatch(/\n\s+at /);
    expect(listing(dir)).toEqual(before);
  });
});
