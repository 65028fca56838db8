/**
 * VQ-VAE throughput of the published 5b architecture (random weights: speed does not depend on
 * their values) on 10 s of 44.1 kHz audio: encode at all levels, decode level 0, against the
 * reference (bench/reference_vqvae.py: PyTorch on the CPU with `--threads` threads), interleaved
 * round by round so that both see the same machine load.
 *
 * Two figures per side:
 * - in process: the best time of an encode or decode inside a running process (the reference's
 *   best of its `--repeats`; ours the best over the rounds, default settings);
 * - whole process: one `jukebox encode` plus one `jukebox decode` on the CLI, start-up, checkpoint
 *   load and WAV I/O included, against one reference process that builds the model and encodes
 *   and decodes once.
 *
 * jukebox-ts runs with its default settings (the fast path with `--threads` threads, set through
 * JUKEBOX_VQVAE_THREADS); `--tfjs` adds the tfjs path on one thread for comparison. The reference
 * runs at its best on these machines (FACTS.md): the MALLOC_* variables set for its child process
 * only. The load average is printed beside every round.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/vqvae.ts [--seconds 10] [--threads 2] [--rounds 3] [--tfjs]
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { writeWavStream } from '../src/audio';
import { initBackend } from '../src/backend';
import { saveVQVAE } from '../src/checkpoint/load';
import { vqvaePreset } from '../src/checkpoint/presets';
import { randomVQVAE } from '../src/vqvae/init';
import { VQVAE } from '../src/vqvae/vqvae';
import { lastJsonLine, runReferenceScript } from './reference-run';

const ROOT = path.join(__dirname, '..');
interface Timing {
  encode_s: number;
  decode_s: number;
}

const load = () => +os.loadavg()[0].toFixed(2);

function reference(seconds: number, threads: number, repeats: number): (Timing & { wall_s: number; torch: string }) | string {
  const r = runReferenceScript(path.join(__dirname, 'reference_vqvae.py'), ['--seconds', String(seconds), '--threads', String(threads), '--repeats', String(repeats)]);
  return typeof r === 'string' ? r : { ...lastJsonLine<Timing & { torch: string }>(r.stdout), wall_s: r.wallSeconds };
}

/** Wall seconds of one CLI command in its own process. */
function cli(args: string[], env: Record<string, string>): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'src', 'cli', 'bin.js'), ...args, '--quiet'], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`jukebox ${args[0]} failed: ${r.stderr}`);
  return (performance.now() - start) / 1000;
}

/** One encode (all levels) and one decode (level 0) of `audio` in this process. */
function timeOnce(model: VQVAE, audio: Float32Array): Timing {
  const x = tf.tensor3d(audio, [1, audio.length, 1]);
  let t = performance.now();
  const zs = model.encode(x);
  zs.forEach((z) => z.dataSync());
  const encode = (performance.now() - t) / 1000;
  t = performance.now();
  const y = model.decode(zs[0], 0);
  y.dataSync();
  const decode = (performance.now() - t) / 1000;
  tf.dispose([x, ...zs, y]);
  return { encode_s: encode, decode_s: decode };
}

function best(times: Timing[]): Timing {
  return { encode_s: Math.min(...times.map((t) => t.encode_s)), decode_s: Math.min(...times.map((t) => t.decode_s)) };
}

const fixed = (t: Timing) => ({ encode_s: +t.encode_s.toFixed(3), decode_s: +t.decode_s.toFixed(3) });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      threads: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      tfjs: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const threads = Number(values.threads ?? Math.min(2, os.cpus().length));
  const backend = await initBackend();
  const config = vqvaePreset('5b');
  const model = randomVQVAE(config, 0);
  const length = Math.floor((seconds * config.sr) / 128) * 128;
  const audio = new Float32Array(length).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / config.sr));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-bench-'));
  const ckpt = path.join(dir, '5b.safetensors');
  const wav = path.join(dir, 'song.wav');
  const codes = path.join(dir, 'codes.safetensors');
  await saveVQVAE(ckpt, model);
  await writeWavStream(wav, { sampleRate: config.sr, channels: 1, frames: length, format: 'float32' }, (write) => write([audio]));
  const env = { JUKEBOX_VQVAE_THREADS: String(threads) };
  process.env.JUKEBOX_VQVAE_THREADS = String(threads);
  const log: Record<string, unknown>[] = [];
  const ours: Timing[] = [];
  const oursWhole: number[] = [];
  const refs: Timing[] = [];
  const refWhole: number[] = [];
  let torch = '';
  let refSkipped: string | undefined;
  try {
    timeOnce(model, audio.subarray(0, 1 << 16)); // starts the worker threads, tiers the kernels up
    for (let round = 0; round < rounds; round++) {
      const ref = reference(seconds, threads, 2);
      const refOnce = typeof ref === 'string' ? ref : reference(seconds, threads, 1);
      const entry: Record<string, unknown> = { round, load_before: load() };
      if (typeof ref === 'string' || typeof refOnce === 'string') {
        refSkipped = typeof ref === 'string' ? ref : (refOnce as string);
      } else {
        torch = ref.torch;
        refs.push(ref);
        refWhole.push(refOnce.wall_s);
        entry.reference = { ...fixed(ref), whole_process_s: +refOnce.wall_s.toFixed(2) };
      }
      const t = timeOnce(model, audio);
      ours.push(t);
      const whole = cli(['encode', wav, '--vqvae', ckpt, '--out', codes], env) + cli(['decode', codes, '--vqvae', ckpt, '--level', '0', '--out', path.join(dir, 'out.wav')], env);
      oursWhole.push(whole);
      entry.jukebox_ts = { ...fixed(t), whole_process_s: +whole.toFixed(2) };
      entry.load_after = load();
      log.push(entry);
      console.error(JSON.stringify(entry));
    }
    let tfjs: Timing | undefined;
    if (values.tfjs) {
      process.env.JUKEBOX_FAST_VQVAE = '0';
      tfjs = best([timeOnce(model, audio), timeOnce(model, audio)]);
      delete process.env.JUKEBOX_FAST_VQVAE;
    }
    const o = best(ours);
    const report: Record<string, unknown> = {
      machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
      audio_seconds: length / config.sr,
      backend: backend.choice,
      threads,
      rounds: log,
      jukebox_ts: { ...fixed(o), whole_process_encode_plus_decode_s: +Math.min(...oursWhole).toFixed(2) },
    };
    if (tfjs) report.jukebox_ts_tfjs_path_one_thread = fixed(tfjs);
    if (refs.length === 0) {
      report.reference = refSkipped;
    } else {
      const r = best(refs);
      const rw = Math.min(...refWhole);
      report.reference = { torch, threads, ...fixed(r), whole_process_encode_plus_decode_s: +rw.toFixed(2) };
      // Ratio > 1: jukebox-ts is faster, same machine, same threads, best against best.
      report.speed_ratio_vs_reference = {
        encode: +(r.encode_s / o.encode_s).toFixed(2),
        decode: +(r.decode_s / o.decode_s).toFixed(2),
        whole_process: +(rw / Math.min(...oursWhole)).toFixed(2),
      };
    }
    console.log(JSON.stringify(report, null, 2));
  } finally {
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
