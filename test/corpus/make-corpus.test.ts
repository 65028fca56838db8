import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCorpus } from '../../data/corpus/corpus';
import { runCommand, tempDir } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const work = tempDir('jukebox-make-corpus-');
afterAll(() => work.cleanup());

/** `npm run make-corpus -- ...args`, as the package script runs it (tsx). */
function makeCorpus(...args: string[]) {
  return runCommand(process.execPath, ['--import', 'tsx', path.join(ROOT, 'data', 'corpus', 'make-corpus.ts'), ...args], ROOT);
}

describe('npm run make-corpus', () => {
  it('writes the same files as writeCorpus, and says how fast it went', async () => {
    const out = path.join(work.dir, 'cli');
    const r = await makeCorpus('--songs', '1', '--seed', '3', '--seconds', '8', '--sr', '16000', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^1\/1 song_3_0000: [a-z_]+, [a-z]+, \d+ words/);
    expect(r.stdout).toMatch(/s per minute of audio; written to /);
    const api = path.join(work.dir, 'api');
    await writeCorpus({ songs: 1, seed: 3, seconds: 8, sampleRate: 16000, out: api });
    for (const f of ['song_3_0000.wav', 'song_3_0000.json', path.join('label_ids', 'v3_artist_ids.txt')]) {
      expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(api, f))), f).toBe(true);
    }
  });

  it('answers bad options with one line and the usage', async () => {
    for (const [args, message] of [
      [['--seed', '1', '--out', work.dir], '--songs must be a whole number ≥ 1, got nothing'],
      [['--songs', '2', '--seed', '1'], '--out DIR is required'],
      [['--songs', '2', '--seed', '1', '--seconds', '2', '--out', work.dir], '--seconds must be between 5 and 3600, got 2'],
      [['--songs', '1', '--seed', 'x', '--out', work.dir], '--seed must be a whole number ≥ 0, got x'],
    ] as [string[], string][]) {
      const r = await makeCorpus(...args);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`make-corpus: ${message}`);
      expect(r.stderr).toMatch(/^usage: npm run make-corpus/m);
    }
  });
});
