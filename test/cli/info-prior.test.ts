import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend';
import { validatePriorConfig } from '../../src/prior/config';
import { loadPrior, randomPrior, savePrior } from '../../src/prior/load';
import { runJukeboxWithEnv } from '../helpers';

/**
 * `jukebox info` on prior checkpoints (the reference fixtures made by openai/jukebox): it tells a
 * prior from a VQ-VAE, says which level and lyrics design it is, and lists the artists and genres
 * its label tables hold.
 */
const ROOT = path.join(__dirname, '..', '..');
const PRIOR_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'prior');
const LABEL_IDS = path.join(PRIOR_FIXTURES, 'label_ids');

/** `jukebox ...args` from the repository root, with no id tables from the environment. */
function jukebox(...args: string[]) {
  return runJukeboxWithEnv({ JUKEBOX_LABEL_IDS: '' }, ...args);
}

describe('jukebox info on a prior', () => {
  it('describes a 5b_lyrics-style top prior and lists its artists and genres from the id tables', async () => {
    const r = await jukebox('info', path.join(PRIOR_FIXTURES, 'top_5b_like.pth.tar'), '--label-ids', LABEL_IDS, '--json');
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.kind).toBe('top-level prior');
    expect(info.level).toBe(2);
    expect(info.lyrics).toBe('separate lyrics encoder (5b_lyrics design)');
    expect(info.lyric_tokens).toBe(32);
    expect(info.alignment).toEqual({ layer: 18, head: 1, decoding: 'words' });
    expect(info.labels).toBe('v2');
    expect(info.n_ctx).toBe(64);
    expect(info.hop_lengths).toEqual([8, 32, 128]);
    expect(info.context_seconds).toBeCloseTo((64 * 128) / 44100, 6);
    expect(info.artists[0]).toBe('unknown');
    expect(info.artists).toContain('nora_quill');
    expect(info.genres).toContain('blues');
    expect(info.parameters).toBe(83150);
    expect(info.fits_wasm).toBe(true);
  });

  it('names the 1b_lyrics design, an upsampler, and says when no id tables are available', async () => {
    const top = await jukebox('info', path.join(PRIOR_FIXTURES, 'top_1b_like.pth'));
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toMatch(/lyrics:\s+lyrics in the same sequence \(1b_lyrics design\), 32 characters per window/);
    expect(top.stdout).toMatch(/artists:\s+no id tables \(give --label-ids DIR/);
    const up = await jukebox('info', path.join(PRIOR_FIXTURES, 'upsampler_l1.pth.tar'));
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/kind:\s+upsampler \(level 1, conditioned on level 2\)/);
    expect(up.stdout).toMatch(/lyrics:\s+none/);
    expect(up.stdout).not.toMatch(/alignment:/);
  });

  it('names the default top prior\'s alignment head and its line-by-line decoding', async () => {
    const r = await jukebox('info', path.join(ROOT, 'weights', 'default', 'prior_level_2.safetensors'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/preset:\s+default_top\n/);
    expect(r.stdout).toMatch(/alignment:\s+layer 7, head 0 \(decoding: lines\)/);
  });

  it('still describes a VQ-VAE as before', async () => {
    const r = await jukebox('info', path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).preset).toBe('tiny');
  });
});

describe('jukebox convert on a prior', () => {
  it('bundles the id tables, so the converted file lists its artists and loads to identical weights with nothing more', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jbx-convert-prior-'));
    try {
      const out = path.join(dir, 'prior.safetensors');
      const src = path.join(PRIOR_FIXTURES, 'top_5b_like.pth.tar');
      const r = await jukebox('convert', src, '--out', out, '--label-ids', LABEL_IDS, '--half');
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readdirSync(dir)).toEqual(['prior.safetensors']);
      const info = JSON.parse((await jukebox('info', out, '--json')).stdout);
      expect(info.artists).toContain('nora_quill');
      expect(info.format).toBe('safetensors');
      // The fixture's weights are float16, so halving loses nothing: both load to identical tensors.
      await initBackend();
      const a = loadPrior(src, { labelIds: LABEL_IDS }).model;
      const b = loadPrior(out).model;
      try {
        expect([...b.weights.names()].sort()).toEqual([...a.weights.names()].sort());
        for (const name of a.weights.names()) {
          expect(Array.from(b.weights.get(name).dataSync())).toEqual(Array.from(a.weights.get(name).dataSync()));
        }
        expect(b.labeller?.tables?.artists.get('nora_quill')).toBe(a.labeller?.tables?.artists.get('nora_quill'));
      } finally {
        a.dispose();
        b.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --label-ids for a prior without labels, and --half for a VQ-VAE, writing nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jbx-convert-prior-'));
    try {
      await initBackend();
      const unlabelled = path.join(dir, 'unlabelled.safetensors');
      const model = randomPrior(validatePriorConfig({
        sr: 22050, levels: 3, downs_t: [1, 1, 1], strides_t: [2, 2, 2], l_bins: 16, level: 2, n_ctx: 16,
        prior_width: 16, prior_depth: 1, heads: 1, attn_order: 0, labels: false,
      }), 1);
      await savePrior(unlabelled, model);
      model.dispose();
      const out = path.join(dir, 'x.safetensors');
      const noLabels = await jukebox('convert', unlabelled, '--out', out, '--label-ids', LABEL_IDS);
      expect(noLabels.code).toBe(1);
      expect(noLabels.stderr).toMatch(/--label-ids given, but this prior takes no artist or genre labels/);
      const vq = await jukebox('convert', path.join(ROOT, 'test', 'fixtures', 'reference', 'tiny_vqvae_zip.pth'), '--out', out, '--half');
      expect(vq.code).toBe(1);
      expect(vq.stderr.trim().split('\n')).toHaveLength(1);
      expect(vq.stderr).toMatch(/--label-ids and --half apply to priors; this is a VQ-VAE checkpoint/);
      expect(fs.readdirSync(dir)).toEqual(['unlabelled.safetensors']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
