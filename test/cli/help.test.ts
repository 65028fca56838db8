import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { runJukebox } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');

const jukebox = runJukebox;

const COMMANDS = ['song', 'encode', 'decode', 'convert', 'info', 'reconstruct', 'train-vqvae', 'train-prior', 'sample', 'upsample', 'score', 'align'];

describe('jukebox --help and --version', () => {
  it('--version prints package.json\'s version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const r = await jukebox('--version');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('the overview lists every command', async () => {
    const r = await jukebox('--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(`jukebox ${c}`);
  });

  it.each(COMMANDS)('%s --help prints its usage and exits 0, even without its required options', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await jukebox(command, flag);
      expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: jukebox ${command} `));
    }
  });
});
