/**
 * Peak RSS while loading a prior, against the size of its float32 weights. Writes a random prior
 * of a few hundred MB (the small_prior preset at depth 24: 85M parameters, 340 MB of float32) as
 * float32 and float16 safetensors, then loads each (and any checkpoints given) in a fresh process
 * and reports the peak resident set size.
 *
 *   npx tsx bench/prior-memory.ts [checkpoint ...]
 *
 * `loadPrior` streams: one tensor is read (and, from float16, widened) at a time and handed to
 * the backend, so the peak stays near the weights themselves plus the runtime.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../src/backend';
import { loadPrior, priorFloat32Bytes, randomPrior, savePrior } from '../src/prior/load';
import { priorPreset } from '../src/prior/presets';

const ROOT = path.join(__dirname, '..');

export interface LoadMemory {
  file: string;
  /** Bytes of the model's float32 weights. */
  weightBytes: number;
  /** RSS of the process with the backend started, before loading. */
  baselineBytes: number;
  /** Peak RSS of the whole process. */
  peakBytes: number;
}

/** The bench's model: small_prior with 24 layers. */
export function benchConfig() {
  return { ...priorPreset('small_prior'), prior_depth: 24 };
}

/** Writes the bench model with random weights as float32 and float16 safetensors in `dir`. */
export async function writeBenchCheckpoints(dir: string): Promise<{ f32: string; f16: string }> {
  await initBackend();
  const f32 = path.join(dir, 'prior-f32.safetensors');
  const f16 = path.join(dir, 'prior-f16.safetensors');
  const model = randomPrior(benchConfig(), 0);
  await savePrior(f32, model);
  await savePrior(f16, model, {}, { dtype: 'F16' });
  model.dispose();
  return { f32, f16 };
}

/** Loads `file` in a fresh Node process and returns its memory figures. */
export function measureLoad(file: string): LoadMemory {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'prior-memory.ts'), '--child', file],
    { encoding: 'utf8', cwd: ROOT, env: { ...process.env } });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || line === undefined) throw new Error(`loading ${file} failed: ${r.stderr}`);
  return JSON.parse(line) as LoadMemory;
}

async function child(file: string): Promise<void> {
  await initBackend();
  const baselineBytes = process.memoryUsage().rss;
  const { model } = loadPrior(file);
  const weightBytes = priorFloat32Bytes(model.config);
  model.dispose();
  const peakBytes = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ file, weightBytes, baselineBytes, peakBytes }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jukebox-prior-memory-'));
  try {
    const { f32, f16 } = await writeBenchCheckpoints(dir);
    for (const file of [f32, f16, ...args]) {
      const m = measureLoad(file);
      const mb = (b: number) => Math.round(b / 2 ** 20);
      console.log(JSON.stringify({
        file: path.basename(file),
        fileMB: mb(fs.statSync(file).size),
        weightsMB: mb(m.weightBytes),
        baselineMB: mb(m.baselineBytes),
        peakMB: mb(m.peakBytes),
        peakOverWeights: +(m.peakBytes / m.weightBytes).toFixed(3),
        peakAboveBaselineOverWeights: +((m.peakBytes - m.baselineBytes) / m.weightBytes).toFixed(3),
      }));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main();
