/**
 * Prior training speed: median wall and CPU seconds per step (z_forward, backward, clipping,
 * Adam) of the TypeScript trainer on one thread and on `--threads` worker threads, and, when
 * JUKEBOX_REF names an openai/jukebox checkout and Debian's python3-torch is installed, the
 * reference's step on one and on as many threads on the same machine, run at its best (the
 * allocator settings of FACTS.md, set for those processes only). The runs interleave (reference
 * 1 thread, ours 1 thread, reference N, ours N, repeated `--rounds` times) so that a shared
 * machine's load falls on both alike; the load average is printed beside every figure.
 *
 * The model: a top prior with the 5b_lyrics design at the sampling benchmark's size (width 256,
 * depth 8, n_ctx 1024, 2048 codes; a lyrics encoder of width 128 over 128 characters read by every
 * fourth layer), batch 4.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/train-prior.ts [--steps 5] [--threads 2] [--batch-size 4] [--rounds 1]
 */
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { readLabelIdTables, SongMetadata } from '../src/labels';
import { validatePriorConfig } from '../src/prior/config';
import { randomPrior } from '../src/prior/load';
import { PriorBatch, PriorTrainer } from '../src/train/prior-trainer';
import { PriorWorkerPool } from '../src/train/prior-worker-pool';
import { Rng } from '../src/rng';
import { interleavedRounds, load, runReference, StepTimes, summarise, timed } from './train-common';

const CONFIG = {
  sr: 44100, levels: 3, downs_t: [3, 2, 2], strides_t: [2, 2, 2], l_bins: 2048,
  level: 2, n_ctx: 1024, prior_width: 256, prior_depth: 8, heads: 2, attn_order: 6, blocks: 32,
  labels: true, labels_v3: false, y_bins: [10, 6], t_bins: 64, max_bow_genre_size: 5, min_duration: 1, max_duration: 600,
  use_tokens: true, n_tokens: 128, n_vocab: 80, prime_loss_fraction: 0.4, merged_decoder: true,
  prime_width: 128, prime_depth: 2, prime_heads: 2, prime_attn_order: 2, prime_blocks: 16,
};

const LYRICS = 'the sun goes down and the night comes round, and we sing along until the morning light '.repeat(8);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    steps: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '4' },
    threads: { type: 'string', default: String(Math.min(2, os.cpus().length)) },
    rounds: { type: 'string', default: '1' },
  } });
  const steps = Number(values.steps);
  const batchSize = Number(values['batch-size']);
  const threads = Number(values.threads);
  const backend = await initBackend();
  const config = validatePriorConfig(CONFIG as never, 'bench config');
  const tables = readLabelIdTables(path.join(__dirname, '..', 'test', 'fixtures', 'prior', 'label_ids'), 'v2');
  const artists = ['nora_quill', 'marco_ferro', 'dj_example', 'the_synthetic_strings'];
  const metas = Array.from({ length: batchSize }, (_, i) => ({ artist: artists[i % 4], genre: 'blues rock', lyrics: LYRICS, total_length: 60 * 44100, offset: 0 }));
  const ours = async (workers: number): Promise<StepTimes & { parameters: number }> => {
    const prior = randomPrior(config, 0, { labelTables: tables });
    const labels = prior.labeller!.getBatchLabels(metas.map((m): SongMetadata => ({ artist: m.artist, genre: m.genre, lyrics: m.lyrics, totalSeconds: 60, offsetSeconds: 0 })));
    const y = prior.getY(labels, 0)!;
    const yData = y.y.dataSync() as Int32Array;
    y.y.dispose();
    const trainer = new PriorTrainer(prior);
    const pool = workers > 1 ? await PriorWorkerPool.start(prior, workers) : undefined;
    trainer.runner = pool;
    const rng = new Rng(1);
    const times: { wall: number; cpu: number }[] = [];
    for (let step = 0; step <= steps; step++) {
      const z = Int32Array.from({ length: batchSize * config.n_ctx }, () => rng.int(config.l_bins));
      const batch: PriorBatch = { items: batchSize, z, zCond: null, y: yData.slice() };
      const t = await timed(() => trainer.trainStep(batch));
      if (step > 0) times.push(t); // step 0 allocates everything
    }
    await pool?.close();
    trainer.dispose();
    const parameters = prior.numParameters;
    prior.dispose();
    return { ...summarise(times), parameters };
  };
  const tokens = batchSize * config.n_ctx;
  const reference = (n: number) => runReference(path.join(__dirname, 'reference_train_prior.py'),
    ['--config', JSON.stringify(CONFIG), '--metas', JSON.stringify(metas), '--steps', String(steps), '--threads', String(n)]);
  const show = (t: StepTimes | string) => (typeof t === 'string' ? { result: t } : { ...t, tokens_per_second: Math.round(tokens / t.seconds_per_step), load: load() });
  let parameters = 0;
  const rounds = await interleavedRounds(Number(values.rounds), threads, reference, async (n) => {
    const o = await ours(n);
    parameters = o.parameters;
    return o;
  }, show);
  const report = {
    machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
    model: `width ${config.prior_width}, depth ${config.prior_depth}, n_ctx ${config.n_ctx}, lyrics encoder ${config.prime_width}x${config.prime_depth} over ${config.n_tokens}; ${parameters} parameters`,
    batch: batchSize,
    threads,
    backend: backend.choice,
    rounds,
  };
  console.log(JSON.stringify(report, null, 2));
}

main();
