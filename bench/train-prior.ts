/**
 * Prior training speed: median seconds per step (z_forward, backward, clipping, Adam) of the
 * TypeScript trainer on one thread and on `--threads` worker threads, and, when JUKEBOX_REF names
 * an openai/jukebox checkout and Debian's python3-torch is installed, the reference's step on one
 * and on as many threads on the same machine, run at its best (the allocator settings of
 * FACTS.md, set for those processes only).
 *
 * The model: a top prior with the 5b_lyrics design at the sampling benchmark's size (width 256,
 * depth 8, n_ctx 1024, 2048 codes; a lyrics encoder of width 128 over 128 characters read by every
 * fourth layer), batch 4.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/train-prior.ts [--steps 5] [--threads 2] [--batch-size 4]
 */
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { readLabelIdTables, SongMetadata } from '../src/labels';
import { validatePriorConfig } from '../src/prior/config';
import { randomPrior } from '../src/prior/load';
import { PriorBatch, PriorTrainer } from '../src/train/prior-trainer';
import { PriorWorkerPool } from '../src/train/prior-worker-pool';
import { Rng } from '../src/rng';

const CONFIG = {
  sr: 44100, levels: 3, downs_t: [3, 2, 2], strides_t: [2, 2, 2], l_bins: 2048,
  level: 2, n_ctx: 1024, prior_width: 256, prior_depth: 8, heads: 2, attn_order: 6, blocks: 32,
  labels: true, labels_v3: false, y_bins: [10, 6], t_bins: 64, max_bow_genre_size: 5, min_duration: 1, max_duration: 600,
  use_tokens: true, n_tokens: 128, n_vocab: 80, prime_loss_fraction: 0.4, merged_decoder: true,
  prime_width: 128, prime_depth: 2, prime_heads: 2, prime_attn_order: 2, prime_blocks: 16,
};

const LYRICS = 'the sun goes down and the night comes round, and we sing along until the morning light '.repeat(8);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    steps: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '4' },
    threads: { type: 'string', default: String(Math.min(2, os.cpus().length)) },
  } });
  const steps = Number(values.steps);
  const batchSize = Number(values['batch-size']);
  const threads = Number(values.threads);
  const backend = await initBackend();
  const config = validatePriorConfig(CONFIG as never, 'bench config');
  const tables = readLabelIdTables(path.join(__dirname, '..', 'test', 'fixtures', 'prior', 'label_ids'), 'v2');
  const artists = ['nora_quill', 'marco_ferro', 'dj_example', 'the_synthetic_strings'];
  const metas = Array.from({ length: batchSize }, (_, i) => ({ artist: artists[i % 4], genre: 'blues rock', lyrics: LYRICS, total_length: 60 * 44100, offset: 0 }));
  const secondsPerStep = async (workers: number): Promise<{ seconds: number; parameters: number }> => {
    const prior = randomPrior(config, 0, { labelTables: tables });
    const labels = prior.labeller!.getBatchLabels(metas.map((m): SongMetadata => ({ artist: m.artist, genre: m.genre, lyrics: m.lyrics, totalSeconds: 60, offsetSeconds: 0 })));
    const y = prior.getY(labels, 0)!;
    const yData = y.y.dataSync() as Int32Array;
    y.y.dispose();
    const trainer = new PriorTrainer(prior);
    const pool = workers > 1 ? await PriorWorkerPool.start(prior, workers) : undefined;
    trainer.runner = pool;
    const rng = new Rng(1);
    const times: number[] = [];
    for (let step = 0; step <= steps; step++) {
      const z = Int32Array.from({ length: batchSize * config.n_ctx }, () => rng.int(config.l_bins));
      const batch: PriorBatch = { items: batchSize, z, zCond: null, y: yData.slice() };
      const start = performance.now();
      await trainer.trainStep(batch);
      if (step > 0) times.push((performance.now() - start) / 1000);
    }
    await pool?.close();
    trainer.dispose();
    const parameters = prior.numParameters;
    prior.dispose();
    return { seconds: median(times), parameters };
  };
  const single = await secondsPerStep(1);
  const parallel = await secondsPerStep(threads);
  const tokens = batchSize * config.n_ctx;
  const report: Record<string, unknown> = {
    machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
    model: `width ${config.prior_width}, depth ${config.prior_depth}, n_ctx ${config.n_ctx}, lyrics encoder ${config.prime_width}x${config.prime_depth} over ${config.n_tokens}; ${single.parameters} parameters`,
    batch: batchSize,
    backend: backend.choice,
    jukebox_ts: {
      one_thread: { seconds_per_step: +single.seconds.toFixed(3), tokens_per_second: Math.round(tokens / single.seconds) },
      [`${threads}_worker_threads`]: { seconds_per_step: +parallel.seconds.toFixed(3), tokens_per_second: Math.round(tokens / parallel.seconds) },
    },
  };
  if (!process.env.JUKEBOX_REF) {
    report.reference = 'skipped: set JUKEBOX_REF to an openai/jukebox checkout to compare';
  } else {
    const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '68719476736', MALLOC_TOP_PAD_: '1073741824' };
    const reference = (n: number): { seconds_per_step: number } | string => {
      const r = spawnSync(process.env.JUKEBOX_PYTHON ?? '/usr/bin/python3', [path.join(__dirname, 'reference_train_prior.py'),
        '--config', JSON.stringify(CONFIG), '--metas', JSON.stringify(metas), '--steps', String(steps), '--threads', String(n)], { encoding: 'utf8', env });
      if (r.status !== 0) return `skipped: the reference failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})`;
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    };
    const one = reference(1);
    const many = reference(threads);
    if (typeof one === 'string' || typeof many === 'string') {
      report.reference = typeof one === 'string' ? one : many;
    } else {
      const show = (ref: { seconds_per_step: number }) => ({ ...ref, seconds_per_step: +ref.seconds_per_step.toFixed(3), tokens_per_second: Math.round(tokens / ref.seconds_per_step) });
      report.reference = { one_thread: show(one), [`${threads}_threads`]: show(many) };
      // Ratio > 1: jukebox-ts trains faster. Same machine, same number of threads.
      report.speed_ratio_vs_reference = {
        one_thread: +(one.seconds_per_step / single.seconds).toFixed(2),
        [`${threads}_threads`]: +(many.seconds_per_step / parallel.seconds).toFixed(2),
      };
    }
  }
  console.log(JSON.stringify(report, null, 2));
}

main();
