import * as tf from '@tensorflow/tfjs';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../src/backend';

/** Starts the backend the toolkit would pick (or JUKEBOX_BACKEND's). */
export async function useBackend(): Promise<string> {
  return (await initBackend()).tfName;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'jukebox-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `fn` and asserts (by returning the difference) how many tensors it leaked. */
export async function tensorLeak(fn: () => unknown | Promise<unknown>): Promise<number> {
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}

/** Deterministic music-like test audio: two harmonic notes with envelopes, plus clicks. */
export function musicLike(length: number, sampleRate: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0 || 1;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const notes = [220 * (1 + (seed % 5) / 10), 330, 440 * 1.1];
  for (let i = 0; i < length; i++) {
    const t = i / sampleRate;
    let v = 0;
    notes.forEach((f, n) => {
      const onset = (n * 0.11) % 0.3;
      const local = (t - onset) % 0.35;
      const env = local >= 0 ? Math.exp(-local * 8) * Math.min(1, local * 200) : 0;
      for (let h = 1; h <= 4; h++) v += (env * Math.sin(2 * Math.PI * f * h * t)) / (h * 3);
    });
    // Percussive noise bursts every 0.25 s.
    const beat = t % 0.25;
    v += beat < 0.02 ? rand() * (1 - beat / 0.02) : 0;
    out[i] = 0.5 * v;
  }
  return out;
}

/** ‖got − want‖ / ‖want‖ over the first want.length values. */
export function relativeL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** The repository root, where `npm` scripts and the CLI run. */
export const REPO_ROOT = path.join(__dirname, '..');
/** The `jukebox` command's entry point. */
export const JUKEBOX_BIN = path.join(REPO_ROOT, 'src', 'cli', 'bin.js');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without blocking this worker's event loop: a long `spawnSync`
 * starves vitest's own messages on a loaded machine ("Timeout calling onTaskUpdate"). The backend
 * is left to the command's own choice (JUKEBOX_BACKEND cleared); `env` adds variables.
 */
export function runCommand(command: string, args: string[], cwd = REPO_ROOT, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, JUKEBOX_BACKEND: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `jukebox ...args` (the CLI as a user runs it) from the repository root. */
export function runJukebox(...args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [JUKEBOX_BIN, ...args]);
}

/** Runs `jukebox ...args` like runJukebox, with `env` added to (or overriding) the environment. */
export function runJukeboxWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [JUKEBOX_BIN, ...args], REPO_ROOT, env);
}
