/**
 * Where the fast VQ-VAE path's time goes: one encode (all levels) and one decode (level 0) of the
 * 5b architecture (random weights) on one thread, with the CPU time and the arithmetic rate of
 * each kind of layer. CPU time of the one thread, not wall time, so that a busy machine changes
 * the figures less (they still rise when other processes share the core's caches).
 *
 * The best of `--repeats` passes is printed. With `--reference`, bench/reference_vqvae_profile.py
 * then profiles the reference (openai/jukebox, PyTorch, one thread, at its best: the MALLOC_* and
 * OpenBLAS variables set for its process only) in the same shape, and a comparison per layer kind
 * follows: `ratio` is the reference's CPU time over ours (above 1, ours is faster).
 *
 *   [JUKEBOX_REF=/path/to/jukebox] npx tsx bench/vqvae-profile.ts [--seconds 10] [--repeats 2] [--reference]
 */
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend } from '../src/backend';
import { vqvaePreset } from '../src/checkpoint/presets';
import type { Conv1d, ConvTranspose1d, ResConv1DBlock } from '../src/vqvae/layers';
import { ConvRun } from '../src/vqvae/fast/conv-runner';
import { randomVQVAE } from '../src/vqvae/init';
import { runReferenceScript } from './reference-run';

interface Entry {
  calls: number;
  cpuMs: number;
  /** Multiply-adds done, for the rate. */
  macs: number;
}

const entries = new Map<string, Entry>();

function record(key: string, cpuMs: number, macs: number): void {
  const e = entries.get(key) ?? { calls: 0, cpuMs: 0, macs: 0 };
  e.calls++;
  e.cpuMs += cpuMs;
  e.macs += macs;
  entries.set(key, e);
}

const cpuMs = (since: NodeJS.CpuUsage) => process.cpuUsage(since).user / 1000;

/**
 * Wraps the runner's layer methods to time them (each call's own CPU time; a fused residual
 * block's convolutions count as the block).
 */
function instrument(): void {
  const proto = ConvRun.prototype;
  const conv = proto.conv;
  proto.conv = function (this: ConvRun, layer: Conv1d, x) {
    const start = process.cpuUsage();
    const y = conv.call(this, layer, x);
    const kind = layer.kernel === 3 && layer.stride === 1 ? 'dilated 3-tap conv' : `conv k${layer.kernel} s${layer.stride}`;
    record(`${kind} ${layer.nIn}->${layer.nOut}`, cpuMs(start), y.rows * layer.kernel * layer.nIn * layer.nOut);
    return y;
  };
  const convT = proto.convTranspose;
  proto.convTranspose = function (this: ConvRun, layer: ConvTranspose1d, x) {
    const start = process.cpuUsage();
    const y = convT.call(this, layer, x);
    record(`transposed conv ${layer.nIn}->${layer.nOut}`, cpuMs(start), (y.rows / layer.stride) * layer.nIn * layer.nOut * (layer.kernel / layer.stride) * layer.stride);
    return y;
  };
  // A Winograd block leaves its last partial group to residualBlock: time the outer call only.
  let inBlock = false;
  for (const [method, kind] of [['winogradBlock', 'Winograd'], ['residualBlock', 'direct']] as const) {
    const body = proto[method];
    proto[method] = function (this: ConvRun, block: ResConv1DBlock, x, y) {
      if (inBlock) return body.call(this, block, x, y);
      inBlock = true;
      const start = process.cpuUsage();
      body.call(this, block, x, y);
      inBlock = false;
      const { conv3, conv1 } = block;
      record(`residual block, ${kind} (3-tap + 1x1) ${conv3.nIn}->${conv3.nOut}->${conv1.nOut}`, cpuMs(start),
        x.rows * (3 * conv3.nIn * conv3.nOut + conv1.nIn * conv1.nOut));
    };
  }
  const quantise = proto.quantise;
  proto.quantise = function (this: ConvRun, codebook: string, z) {
    const start = process.cpuUsage();
    const codes = quantise.call(this, codebook, z);
    const [bins, width] = this.w.get(codebook).shape;
    record('codebook scores + argmax', cpuMs(start), z.rows * bins * width);
    return codes;
  };
}

interface Row {
  layer: string;
  calls: number;
  cpu_ms: number;
  share: string;
  gflop_per_s: number;
}

interface Pass {
  cpu_ms: number;
  layers: Row[];
}

function table(total: number): Row[] {
  const rows: Row[] = [...entries.entries()].map(([layer, e]) => ({
    layer,
    calls: e.calls,
    cpu_ms: Math.round(e.cpuMs),
    share: `${((100 * e.cpuMs) / total).toFixed(1)}%`,
    gflop_per_s: +((2 * e.macs) / e.cpuMs / 1e6).toFixed(1),
  }));
  const inLayers = rows.reduce((s, r) => s + r.cpu_ms, 0);
  rows.push({ layer: 'outside the layers (input/output copies, packing, tfjs)', calls: 0, cpu_ms: Math.round(total - inLayers), share: `${((100 * (total - inLayers)) / total).toFixed(1)}%`, gflop_per_s: 0 });
  return rows.sort((a, b) => b.cpu_ms - a.cpu_ms);
}

/** bench/reference_vqvae_profile.py's report (one indented JSON object), or why there is none. */
function reference(seconds: number, repeats: number): { encode: Pass; decode: Pass; machine: string } | string {
  const r = runReferenceScript(path.join(__dirname, 'reference_vqvae_profile.py'), ['--seconds', String(seconds), '--repeats', String(repeats)], { oneBlasThread: true });
  return typeof r === 'string' ? r : JSON.parse(r.stdout);
}

/** Ours beside the reference per layer kind (our Winograd and direct residual blocks are one kind). */
function compare(ours: Pass, ref: Pass): Record<string, unknown> {
  const kind = (layer: string) => layer.replace(/, (Winograd|direct) /, ' ').replace(/^outside the layers.*/, 'outside the layers');
  const kinds = new Map<string, { ours?: Row; ref?: Row }>();
  for (const [side, rows] of [['ours', ours.layers], ['ref', ref.layers]] as const) {
    for (const row of rows) kinds.set(kind(row.layer), { ...kinds.get(kind(row.layer)), [side]: row });
  }
  const ratio = (r: number, o: number) => (o > 0 ? +(r / o).toFixed(2) : null);
  return {
    ours_ms: ours.cpu_ms, reference_ms: ref.cpu_ms, ratio: ratio(ref.cpu_ms, ours.cpu_ms),
    layers: [...kinds.entries()].map(([layer, { ours: o, ref: r }]) => ({
      layer, ours_ms: o?.cpu_ms ?? 0, reference_ms: r?.cpu_ms ?? 0, ratio: ratio(r?.cpu_ms ?? 0, o?.cpu_ms ?? 0),
      ours_gflop_per_s: o?.gflop_per_s ?? 0, reference_gflop_per_s: r?.gflop_per_s ?? 0,
    })).sort((a, b) => b.reference_ms - a.reference_ms),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '10' }, repeats: { type: 'string', default: '2' }, reference: { type: 'boolean', default: false } },
  });
  process.env.JUKEBOX_VQVAE_THREADS = '1';
  await initBackend();
  instrument();
  const config = vqvaePreset('5b');
  const model = randomVQVAE(config, 0);
  const length = Math.floor((Number(values.seconds) * config.sr) / 128) * 128;
  const audio = new Float32Array(length).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / config.sr));
  const warm = tf.tensor3d(audio.subarray(0, 1 << 16), [1, 1 << 16, 1]);
  tf.dispose(model.encode(warm).map((z) => model.decode(z, 0)).concat([warm])); // tiers the kernels up
  const x = tf.tensor3d(audio, [1, length, 1]);
  let encode: Pass | undefined;
  let decode: Pass | undefined;
  for (let repeat = 0; repeat < Number(values.repeats); repeat++) {
    entries.clear();
    let start = process.cpuUsage();
    const zs = model.encode(x);
    const encodeMs = cpuMs(start);
    if (encode === undefined || encodeMs < encode.cpu_ms) encode = { cpu_ms: Math.round(encodeMs), layers: table(encodeMs) };
    entries.clear();
    start = process.cpuUsage();
    const y = model.decode(zs[0], 0);
    const decodeMs = cpuMs(start);
    if (decode === undefined || decodeMs < decode.cpu_ms) decode = { cpu_ms: Math.round(decodeMs), layers: table(decodeMs) };
    tf.dispose([y, ...zs]);
  }
  tf.dispose(x);
  model.dispose();
  const report: Record<string, unknown> = {
    machine: `${os.cpus()[0]?.model}, load average ${os.loadavg()[0].toFixed(2)}`, audio_seconds: length / config.sr, repeats: Number(values.repeats), encode, decode,
  };
  if (values.reference && encode && decode) {
    const ref = reference(Number(values.seconds), Number(values.repeats));
    report.reference = ref;
    if (typeof ref !== 'string') report.comparison = { encode: compare(encode, ref.encode), decode: compare(decode, ref.decode) };
  }
  console.log(JSON.stringify(report, null, 2));
}

main();
