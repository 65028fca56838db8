/**
 * What the scripts that train on the generated corpus (scripts/train-default.ts,
 * scripts/paper-runs.ts) share: the corpus's settings, a training set and a held-out set of songs
 * (data/corpus), and when a corpus folder is complete.
 */
import * as fs from 'fs';

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
