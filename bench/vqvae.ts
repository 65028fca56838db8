/**
 * VQ-VAE throughput of the published 5b architecture (random weights: speed does not depend on
 * their values) on 10 s of 44.1 kHz audio: encode at all levels, decode level 0, as audio seconds
 * per wall second, on the main thread and on `--threads` worker threads. When Debian's
 * python3-torch and the reference code (JUKEBOX_REF) are present, runs bench/reference_vqvae.py
 * with the same number of threads on the same machine and prints the ratios.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/vqvae.ts [--seconds 10] [--threads 2]
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { vqvaePreset } from '../src/checkpoint/presets';
import { randomVQVAE } from '../src/vqvae/init';
import { decodeChunked, encodeChunked } from '../src/vqvae/streaming';
import { VQVAEWorkerPool } from '../src/vqvae/worker-pool';

interface Timing {
  encode_s: number;
  decode_s: number;
}

function referenceTiming(seconds: number, threads: number): (Timing & { torch: string }) | string {
  const ref = process.env.JUKEBOX_REF;
  if (!ref) return 'skipped: set JUKEBOX_REF to an openai/jukebox checkout to compare';
  const python = process.env.JUKEBOX_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, [path.join(__dirname, 'reference_vqvae.py'), '--seconds', String(seconds), '--threads', String(threads)], {
    encoding: 'utf8',
    env: process.env,
  });
  if (r.status !== 0) return `skipped: the reference failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, threads: { type: 'string' }, repeats: { type: 'string', default: '2' } } });
  const seconds = Number(values.seconds);
  const repeats = Number(values.repeats);
  const threads = Number(values.threads ?? Math.min(2, os.cpus().length));
  const backend = await initBackend();
  const config = vqvaePreset('5b');
  const model = randomVQVAE(config, 0);
  const length = Math.floor((seconds * config.sr) / 128) * 128;
  const audio = new Float32Array(length).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / config.sr));
  const audioSeconds = length / config.sr;
  const source = { sampleRate: config.sr, length, read: (s: number, e: number) => audio.slice(Math.max(0, s), Math.min(length, e)) };
  const time = async (pool?: VQVAEWorkerPool): Promise<Timing> => {
    const best: Timing = { encode_s: Infinity, decode_s: Infinity };
    for (let r = 0; r < repeats; r++) {
      let t = performance.now();
      const codes = await encodeChunked(model, source, model.allLevels(), { pool });
      best.encode_s = Math.min(best.encode_s, (performance.now() - t) / 1000);
      t = performance.now();
      await decodeChunked(model, codes[0], 0, () => {}, { pool });
      best.decode_s = Math.min(best.decode_s, (performance.now() - t) / 1000);
    }
    return best;
  };
  const single = await time();
  const pool = await VQVAEWorkerPool.start(model, threads);
  const parallel = await time(pool);
  await pool.close();
  model.dispose();
  const describe = (t: Timing) => ({
    encode_s: +t.encode_s.toFixed(3),
    decode_s: +t.decode_s.toFixed(3),
    encode_audio_s_per_s: +(audioSeconds / t.encode_s).toFixed(3),
    decode_audio_s_per_s: +(audioSeconds / t.decode_s).toFixed(3),
  });
  const report: Record<string, unknown> = {
    machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
    audio_seconds: audioSeconds,
    backend: backend.choice,
    jukebox_ts: { one_thread: describe(single), [`${threads}_worker_threads`]: describe(parallel) },
  };
  const ref = referenceTiming(seconds, threads);
  if (typeof ref === 'string') {
    report.reference = ref;
  } else {
    report.reference = {
      torch: ref.torch,
      threads,
      encode_s: +ref.encode_s.toFixed(3),
      decode_s: +ref.decode_s.toFixed(3),
    };
    // Ratio > 1: jukebox-ts is faster. Same machine, same number of threads (the reference's
    // torch threads, our worker threads); the one-thread ratio is given too.
    report.speed_ratio_vs_reference = {
      [`encode_${threads}_threads`]: +(ref.encode_s / parallel.encode_s).toFixed(2),
      [`decode_${threads}_threads`]: +(ref.decode_s / parallel.decode_s).toFixed(2),
      encode_one_thread_vs_reference: +(ref.encode_s / single.encode_s).toFixed(2),
      decode_one_thread_vs_reference: +(ref.decode_s / single.decode_s).toFixed(2),
    };
  }
  console.log(JSON.stringify(report, null, 2));
}

main();
