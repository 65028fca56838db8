/**
 * What the scripts that train on the generated corpus (scripts/train-default.ts,
 * scripts/paper-runs.ts) share: the corpus's settings, a training set and a held-out set of songs
 * (data/corpus), when a corpus folder is complete, the step a training run has saved, and how an
 * option's name is spelt as a flag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensorsHeader } from '../src/checkpoint/safetensors';
import { STATE_FILE } from '../src/train/run-state';

export interface CorpusSettings {
  songs: number;
  heldOutSongs: number;
  seconds: number;
  sr: number;
  seed: number;
  heldOutSeed: number;
}

/** Songs complete in a corpus folder: a sidecar is written after its audio. */
export function corpusComplete(dir: string, songs: number): boolean {
  return fs.existsSync(dir) && fs.readdirSync(dir).filter((f) => f.endsWith('.json')).length >= songs;
}

/** The step a training run has saved, or 0 when it has not started. */
export function savedStep(outDir: string): number {
  const state = path.join(outDir, STATE_FILE);
  return fs.existsSync(state) ? Number(readSafetensorsHeader(state).metadata.step) : 0;
}

/** An option's flag name: `heldOutSongs` → `held-out-songs`. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
