import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, tempDir } from './helpers';

/**
 * Every notebook runs headless, as in CI: the tslab kernel (started at the repository root by
 * notebooks/kernel.sh) and Debian's jupyter-nbconvert. A cell that throws, or that tslab fails to
 * compile (it reports compile errors on stderr and carries on), fails the test.
 */
const ROOT = path.join(__dirname, '..');
const NOTEBOOKS = fs.readdirSync(path.join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort();
const JUPYTER = '/usr/bin/jupyter';
const { dir, cleanup } = tempDir('jukebox-notebooks-');
/**
 * Settings a notebook reads from the environment in its first cell. Notebook 03 samples songs with
 * the shipped default models: here 2 s instead of 8, the shortest that leaves its co-composition
 * rounds a whole upsampler context (1.02 s) to upsample, so every cell runs in seconds.
 */
const NOTEBOOK_ENV: Record<string, Record<string, string>> = {
  '03-generate-samples.ipynb': { JUKEBOX_NOTEBOOK_SECONDS: '2' },
};

interface Output { output_type: string; name?: string; text?: string[]; ename?: string; evalue?: string }
interface Cell { cell_type: string; source: string | string[]; outputs?: Output[] }

beforeAll(() => {
  if (!fs.existsSync(`${JUPYTER}-nbconvert`)) {
    throw new Error('jupyter-nbconvert is missing: install the Debian packages "jupyter-nbconvert python3-nbclient python3-ipykernel" (apt-get install -y ...)');
  }
  const install = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tslab'),
    ['install', '--python', '/usr/bin/python3', '--binary', path.join(ROOT, 'notebooks', 'kernel.sh'), '--prefix', dir], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`tslab install failed: ${install.stderr}`);
});
afterAll(cleanup);

describe('notebooks', () => {
  it('are committed without outputs, so they stay small', () => {
    expect(NOTEBOOKS).toEqual(['01-explore-codes.ipynb', '02-compare-compression-levels.ipynb', '03-generate-samples.ipynb']);
    for (const name of NOTEBOOKS) {
      const file = path.join(ROOT, 'notebooks', name);
      const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[]; metadata: { kernelspec: { name: string } } };
      expect(nb.metadata.kernelspec.name).toBe('tslab');
      for (const cell of nb.cells) if (cell.cell_type === 'code') expect(cell.outputs, name).toEqual([]);
      expect(fs.statSync(file).size).toBeLessThan(50_000);
    }
  });

  it.each(NOTEBOOKS)('%s executes headless with no cell error', async (name) => {
    const out = path.join(dir, name);
    const started = Date.now();
    const r = await runCommand(JUPYTER, ['nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=600', path.join(ROOT, 'notebooks', name), '--output', out],
      ROOT, { ...NOTEBOOK_ENV[name], JUPYTER_PATH: path.join(dir, 'share', 'jupyter') });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const nb = JSON.parse(fs.readFileSync(out, 'utf8')) as { cells: Cell[] };
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    for (const [i, cell] of code.entries()) {
      for (const o of cell.outputs ?? []) {
        expect(o.output_type, `cell ${i}: ${o.ename}: ${o.evalue}`).not.toBe('error');
        expect(o.name === 'stderr' ? (o.text ?? []).join('') : '', `cell ${i} wrote to stderr`).toBe('');
      }
      // Every code cell shows something: a table, a figure, a player or a printed value.
      expect((cell.outputs ?? []).length, `cell ${i} has no output`).toBeGreaterThan(0);
    }
    console.log(`${name}: ${code.length} code cells in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 900_000);
});
