import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'src', 'cli', 'bin.js');

function jukebox(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = ['encode', 'decode', 'convert', 'info', 'reconstruct', 'train-vqvae', 'sample', 'upsample', 'score'];

describe('jukebox --help and --version', () => {
  it('--version prints package.json\'s version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const r = jukebox('--version');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('the overview lists every command', () => {
    const r = jukebox('--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(`jukebox ${c}`);
  });

  it.each(COMMANDS)('%s --help prints its usage and exits 0, even without its required options', (command) => {
    for (const flag of ['--help', '-h']) {
      const r = jukebox(command, flag);
      expect(r.stderr.replace(/npm warn.*\n/g, '')).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: jukebox ${command} `));
    }
  });
});
