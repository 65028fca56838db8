import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, vocalSurvival } from '../../scripts/vocal-survival';
import { REPO_ROOT, runCommand, useBackend } from '../helpers';

/**
 * `npm run vocal-survival` on the shipped default VQ-VAE: how much of the sung vocals each level's
 * codes keep. Every level keeps the singing, the top level (whose codes the top prior models)
 * included, and the finest level keeps it best; the CLI reports every level in one line each.
 */
beforeAll(async () => {
  await useBackend();
});

describe('vocal survival through the VQ-VAE levels', () => {
  it('every level keeps the vocals, the finest level best; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const levels = await vocalSurvival({ ...DEFAULTS, vqvae: path.join(REPO_ROOT, DEFAULTS.vqvae), songs: 1, seconds: 8 }, () => {});
    expect(tf.memory().numTensors).toBe(before);
    expect(levels.map((l) => l.level)).toEqual([0, 1, 2]);
    for (const l of levels) {
      expect(Number.isFinite(l.vocals_db)).toBe(true);
      expect(l.per_song_vocals_db).toHaveLength(1);
      expect(Number.isFinite(l.mix_db)).toBe(true);
      // On this song the shipped VQ-VAE keeps the vocals at -14.6 / -9.3 / -6.1 dB. The previous
      // default (256 codes, 380 steps) kept almost none at the top level (-0.4 dB on 6 songs), so
      // its top prior could not hear the words.
      expect(l.vocals_db).toBeLessThan(-4);
    }
    expect(levels[0].vocals_db).toBeLessThan(levels[2].vocals_db - 3);
  });

  it('refuses a bad count in one line', async () => {
    const { code, stderr } = await runCommand('npx', ['tsx', 'scripts/vocal-survival.ts', '--songs', '0']);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('vocal-survival: --songs must be a whole number ≥ 1, got 0');
  });
});
