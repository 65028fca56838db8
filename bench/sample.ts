/**
 * Greedy (top-k 1) KV-cache sampling speed of the issue's medium prior — a top-level prior of
 * width 256, depth 8, 2 heads, attn_order 2, blocks 32, n_ctx 1024, 2048 bins, no labels — in
 * tokens per second, beside the reference on the same machine. Both of jukebox-ts's token loops are
 * timed: the fast path (src/prior/fast, the default on the CPU backends) and the tfjs path it is
 * checked against (`fastSampling: false`, as `JUKEBOX_FAST_SAMPLING=0` makes it).
 *
 * When Debian's python3-torch and the reference code (JUKEBOX_REF) are present, runs
 * bench/reference_sample.py at 1 and 2 threads with the environment that times the reference at
 * its best (../shared/FACTS.md: the MALLOC_* variables, OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE unset; set for that child process only), has it save its model, and samples
 * from the same weights here through `loadPrior` + `Prior.sample`, so the greedy tokens can be
 * compared too. Without the reference, or with `--width`/`--depth` other than the medium config's
 * (where saving and loading the model would take longer than sampling), it times a `randomPrior`
 * of the same config: speed does not depend on the weights' values.
 *
 *   JUKEBOX_REF=/path/to/jukebox npx tsx bench/sample.ts [--tokens 1024] [--samples 1] [--repeats 2]
 *     [--width 256] [--depth 8] [--threads N] [--skip-tfjs]
 *
 * `--threads` is the fast path's threads (JUKEBOX_SAMPLING_THREADS; default 1, see
 * src/prior/fast/threads.ts); tfjs-wasm runs on one. The machine may be shared: the report
 * includes the load average before and after.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { PriorConfig, validatePriorConfig } from '../src/prior/config';
import { loadPrior, randomPrior } from '../src/prior/load';
import { samplingThreads } from '../src/prior/fast/threads';
import { Prior } from '../src/prior/prior';
import { Rng } from '../src/rng';
import { lastJsonLine, runReferenceScript } from './reference-run';

const MEDIUM = {
  sr: 44100,
  levels: 3,
  downs_t: [3, 2, 2],
  strides_t: [2, 2, 2],
  l_bins: 2048,
  level: 2,
  n_ctx: 1024,
  prior_width: 256,
  prior_depth: 8,
  heads: 2,
  attn_order: 2,
  blocks: 32,
  labels: false,
} satisfies Partial<PriorConfig>;

interface ReferenceResult {
  tokens_per_s: number;
  seconds: number;
  threads: number;
  tokens_row0: number[];
  torch: string;
  reference_commit: string;
}

function runReference(threads: number, tokens: number, samples: number, repeats: number, shape: { width: number; depth: number }, save?: string): ReferenceResult | string {
  const args = ['--threads', String(threads), '--tokens', String(tokens), '--samples', String(samples), '--repeats', String(repeats),
    '--width', String(shape.width), '--depth', String(shape.depth)];
  if (save !== undefined) args.push('--save', save);
  const r = runReferenceScript(path.join(__dirname, 'reference_sample.py'), args, { oneBlasThread: true });
  return typeof r === 'string' ? r : lastJsonLine<ReferenceResult>(r.stdout);
}

async function timeSampling(model: Prior, tokens: number, samples: number, repeats: number, fastSampling: boolean): Promise<{ seconds: number; all: number[]; row0: number[] }> {
  const sampleTokens = tokens === model.nCtx ? undefined : tokens;
  // Warm-up: kernels compiled, weights packed, workers started and caches allocated before timing.
  (await model.sample({ nSamples: samples, topK: 1, sampleTokens: 16, rng: new Rng(0), fastSampling })).dispose();
  const all: number[] = [];
  let row0: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const out = await model.sample({ nSamples: samples, topK: 1, sampleTokens, rng: new Rng(0), fastSampling });
    const data = out.dataSync();
    all.push((performance.now() - start) / 1000);
    row0 = Array.from(data.subarray(0, tokens));
    out.dispose();
  }
  return { seconds: Math.min(...all), all, row0 };
}

function firstMismatch(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string', default: '1024' },
      samples: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '2' },
      width: { type: 'string', default: String(MEDIUM.prior_width) },
      depth: { type: 'string', default: String(MEDIUM.prior_depth) },
      threads: { type: 'string' },
      'skip-tfjs': { type: 'boolean', default: false },
    },
  });
  const tokens = Number(values.tokens);
  const samples = Number(values.samples);
  const repeats = Number(values.repeats);
  const shape = { width: Number(values.width), depth: Number(values.depth) };
  const medium = shape.width === MEDIUM.prior_width && shape.depth === MEDIUM.prior_depth;
  const config: Partial<PriorConfig> = { ...MEDIUM, prior_width: shape.width, prior_depth: shape.depth };
  if (values.threads !== undefined) process.env.JUKEBOX_SAMPLING_THREADS = values.threads;
  const loadBefore = os.loadavg().map((v) => +v.toFixed(2));
  const backend = await initBackend();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-bench-sample-'));
  const saved = path.join(tmp, 'medium_prior.pth.tar');
  try {
    const ref2 = runReference(2, tokens, samples, repeats, shape, medium ? saved : undefined);
    const ref1 = runReference(1, tokens, samples, repeats, shape);
    const fromReference = typeof ref2 !== 'string' && fs.existsSync(saved);
    const model = fromReference ? loadPrior(saved).model : randomPrior(validatePriorConfig(config), 0);
    const fast = await timeSampling(model, tokens, samples, repeats, true);
    const tfjs = values['skip-tfjs'] ? null : await timeSampling(model, tokens, samples, repeats, false);
    model.dispose();
    const rate = (t: { seconds: number }) => (samples * tokens) / t.seconds;
    const describeTs = (t: { seconds: number; all: number[] }) =>
      ({ tokens_per_s: +rate(t).toFixed(1), seconds: +t.seconds.toFixed(3), all_seconds: t.all.map((v) => +v.toFixed(3)) });

    const report: Record<string, unknown> = {
      machine: `${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cores`,
      load_average_before: loadBefore,
      config,
      tokens,
      samples,
      backend: backend.choice,
      weights: fromReference ? 'the reference model, saved by bench/reference_sample.py and loaded with loadPrior' : 'randomPrior(config, 0)',
      jukebox_ts_fast: { ...describeTs(fast), threads: samplingThreads() },
      jukebox_ts_tfjs: tfjs === null ? 'skipped (--skip-tfjs)' : { ...describeTs(tfjs), threads: 1 },
    };
    const describe = (r: ReferenceResult | string) =>
      typeof r === 'string' ? r : { tokens_per_s: +r.tokens_per_s.toFixed(1), seconds: +r.seconds.toFixed(3), threads: r.threads, torch: r.torch };
    report.reference_2_threads = describe(ref2);
    report.reference_1_thread = describe(ref1);
    // Ratio > 1: jukebox-ts is faster.
    const ratios: Record<string, number> = {};
    for (const [name, r] of [['2_threads', ref2], ['1_thread', ref1]] as const) {
      if (typeof r === 'string') continue;
      ratios[`fast_vs_reference_${name}`] = +(rate(fast) / r.tokens_per_s).toFixed(2);
      if (tfjs !== null) ratios[`tfjs_vs_reference_${name}`] = +(rate(tfjs) / r.tokens_per_s).toFixed(2);
    }
    if (tfjs !== null) ratios.fast_vs_tfjs = +(rate(fast) / rate(tfjs)).toFixed(2);
    report.speed_ratio = ratios;
    if (fromReference) {
      // Informational: the reference's default init leaves near-ties, where float rounding may pick the other token.
      report.greedy_tokens_first_mismatch = { fast: firstMismatch(fast.row0, (ref2 as ReferenceResult).tokens_row0) };
      if (tfjs !== null) (report.greedy_tokens_first_mismatch as Record<string, number>).tfjs = firstMismatch(tfjs.row0, (ref2 as ReferenceResult).tokens_row0);
    }
    report.load_average_after = os.loadavg().map((v) => +v.toFixed(2));
    console.log(JSON.stringify(report, null, 1));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
