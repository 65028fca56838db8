/**
 * Runs one of the reference's benchmark scripts (bench/reference_*.py) the way every benchmark
 * compares against it: with Debian's python3 (`JUKEBOX_PYTHON` to change it) and the settings that
 * time the reference at its best on these machines (../shared/FACTS.md), set in its process only,
 * never in ours, the tests' or CI's.
 */
import { spawnSync } from 'child_process';

/**
 * The allocator settings: page faults are slow on these machines and PyTorch allocates fresh
 * activations per op (a 64-channel resblock at T = 65536 went from 127 to 11 ms).
 */
const ALLOCATOR = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '68719476736', MALLOC_TOP_PAD_: '1073741824' };

export interface ReferenceRunOptions {
  /**
   * Also `OPENBLAS_NUM_THREADS=1`, with `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` unset: the
   * best setting for the reference's small matrix-vector products (sampling: 441–470 tokens/s
   * against 128 with the machine's defaults). Training keeps OpenBLAS's own threads.
   */
  oneBlasThread?: boolean;
}

/**
 * The script's stdout and the wall seconds it ran, or a one-line reason it did not: JUKEBOX_REF
 * unset, or the script failed (its last line of stderr).
 */
export function runReferenceScript(script: string, args: string[], options: ReferenceRunOptions = {}): { stdout: string; wallSeconds: number } | string {
  if (!process.env.JUKEBOX_REF) return 'skipped: set JUKEBOX_REF to an openai/jukebox checkout to compare';
  const env: NodeJS.ProcessEnv = { ...process.env, ...ALLOCATOR };
  if (options.oneBlasThread) {
    env.OPENBLAS_NUM_THREADS = '1';
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
  }
  const start = performance.now();
  const r = spawnSync(process.env.JUKEBOX_PYTHON ?? '/usr/bin/python3', [script, ...args], { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const wallSeconds = (performance.now() - start) / 1000;
  if (r.status !== 0) return `skipped: the reference failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})`;
  return { stdout: r.stdout, wallSeconds };
}

/** The JSON object on the last line of a reference script's stdout. */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}
