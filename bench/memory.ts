/**
 * Peak RSS of `jukebox encode` (all three levels, 5b preset, random weights) on songs of several
 * lengths, measured on the real CLI through bench/report-rss.js.
 *
 *   npx tsx bench/memory.ts [seconds ...]      (default: 15 60 240)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeWavStream } from '../src/audio';
import { initBackend } from '../src/backend';
import { saveVQVAE } from '../src/checkpoint/load';
import { vqvaePreset } from '../src/checkpoint/presets';
import { randomVQVAE } from '../src/vqvae/init';

const ROOT = path.join(__dirname, '..');

/** Writes `seconds` of 44.1 kHz 16-bit stereo test music without holding it in memory. */
export async function writeTestSong(file: string, seconds: number, sampleRate = 44100): Promise<void> {
  const frames = Math.round(seconds * sampleRate);
  const block = sampleRate;
  await writeWavStream(file, { sampleRate, channels: 2, frames, format: 'pcm16' }, (write) => {
    for (let start = 0; start < frames; start += block) {
      const n = Math.min(block, frames - start);
      const left = new Float32Array(n);
      const right = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const t = (start + i) / sampleRate;
        const env = Math.exp(-((t % 0.5) * 6));
        left[i] = 0.3 * env * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 3 * 440 * t);
        right[i] = 0.3 * env * Math.sin(2 * Math.PI * 330 * t);
      }
      write([left, right]);
    }
  });
}

/** Runs the CLI's encode under the RSS reporter and returns its peak RSS in bytes. */
export function encodePeakRss(wav: string, ckpt: string, out: string): number {
  const r = spawnSync(process.execPath, ['-r', path.join(ROOT, 'bench', 'report-rss.js'), path.join(ROOT, 'src', 'cli', 'bin.js'),
    'encode', wav, '--vqvae', ckpt, '--out', out, '--quiet'], { encoding: 'utf8', env: { ...process.env, JUKEBOX_BACKEND: '' } });
  if (r.status !== 0) throw new Error(`encode failed: ${r.stderr}`);
  const match = /peak_rss_bytes (\d+)/.exec(r.stderr);
  if (match === null) throw new Error(`no RSS report in: ${r.stderr}`);
  return Number(match[1]);
}

/** A 5b-shaped VQ-VAE with random weights, saved as safetensors. */
export async function write5bCheckpoint(file: string): Promise<void> {
  await initBackend();
  const model = randomVQVAE(vqvaePreset('5b'), 0);
  await saveVQVAE(file, model);
  model.dispose();
}

async function main(): Promise<void> {
  const lengths = process.argv.slice(2).map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-memory-'));
  try {
    const ckpt = path.join(dir, '5b.safetensors');
    await write5bCheckpoint(ckpt);
    const results: { seconds: number; peakRssMB: number; wallSeconds: number }[] = [];
    for (const seconds of lengths.length > 0 ? lengths : [15, 60, 240]) {
      const wav = path.join(dir, `song-${seconds}.wav`);
      await writeTestSong(wav, seconds);
      const start = Date.now();
      const rss = encodePeakRss(wav, ckpt, path.join(dir, 'codes.safetensors'));
      results.push({ seconds, peakRssMB: Math.round(rss / 2 ** 20), wallSeconds: (Date.now() - start) / 1000 });
      console.log(JSON.stringify(results[results.length - 1]));
      fs.rmSync(wav);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main();
