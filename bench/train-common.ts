/**
 * What the training benchmarks (bench/train.ts, bench/train-prior.ts) share: per-step wall and CPU
 * time, the reference run at its best, and the interleaved order of the runs.
 */
import * as os from 'os';
import { lastJsonLine, runReferenceScript } from './reference-run';

export interface StepTimes {
  /** Median wall seconds per step. */
  seconds_per_step: number;
  /** Median CPU seconds per step of the whole process (all its threads). */
  cpu_seconds_per_step: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall and CPU seconds of `step`, over the whole process. */
export async function timed(step: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await step();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

export function summarise(times: { wall: number; cpu: number }[]): StepTimes {
  return { seconds_per_step: +median(times.map((t) => t.wall)).toFixed(3), cpu_seconds_per_step: +median(times.map((t) => t.cpu)).toFixed(3) };
}

/**
 * Runs a reference training script at its best (bench/reference-run.ts); its last stdout line is
 * JSON with seconds_per_step and cpu_seconds_per_step.
 */
export function runReference(script: string, args: string[]): (StepTimes & Record<string, unknown>) | string {
  const r = runReferenceScript(script, args);
  if (typeof r === 'string') return r;
  const out = lastJsonLine<StepTimes & Record<string, unknown>>(r.stdout);
  return { ...out, seconds_per_step: +out.seconds_per_step.toFixed(3), cpu_seconds_per_step: +out.cpu_seconds_per_step.toFixed(3) };
}

/** The 1-, 5- and 15-minute load averages, for the record beside every figure. */
export function load(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

/** Ratio > 1: jukebox-ts is faster. */
export function ratio(reference: number, ours: number): number {
  return +(reference / ours).toFixed(2);
}

/**
 * `rounds` rounds of the runs interleaved (the reference on 1 thread, ours on 1, the reference on
 * `threads`, ours on `threads` worker threads), each result as `show` records it (it is called
 * just after its run, so a load average it adds is the one beside that figure), with the speed
 * ratios where the reference ran.
 */
export async function interleavedRounds<T extends StepTimes>(
  rounds: number,
  threads: number,
  reference: (threads: number) => StepTimes | string,
  ours: (threads: number) => Promise<T>,
  show: (t: StepTimes | string) => unknown,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (let round = 0; round < rounds; round++) {
    const row: Record<string, unknown> = {};
    const r1 = reference(1);
    row.reference_one_thread = show(r1);
    const o1 = await ours(1);
    row.jukebox_ts_one_thread = show(o1);
    const rn = reference(threads);
    row[`reference_${threads}_threads`] = show(rn);
    const on = await ours(threads);
    row[`jukebox_ts_${threads}_worker_threads`] = show(on);
    if (typeof r1 !== 'string' && typeof rn !== 'string') {
      // Ratio > 1: jukebox-ts trains faster. Same machine, same number of threads.
      row.speed_ratio_vs_reference = {
        one_thread_wall: ratio(r1.seconds_per_step, o1.seconds_per_step),
        one_thread_cpu: ratio(r1.cpu_seconds_per_step, o1.cpu_seconds_per_step),
        [`${threads}_threads_wall`]: ratio(rn.seconds_per_step, on.seconds_per_step),
      };
    }
    rows.push(row);
  }
  return rows;
}
