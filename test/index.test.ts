import { describe, expect, it } from 'vitest';
import * as jukebox from '../src';

describe('public API', () => {
  it('exports the documented entry points from src/index.ts', () => {
    for (const name of ['initBackend', 'JukeboxError', 'loadVQVAE', 'saveVQVAE', 'readVQVAEStateDict', 'vqvaePreset', 'VQVAE', 'randomVQVAE',
      'encodeChunked', 'decodeChunked', 'readCodesFile', 'writeCodesFile', 'openAudio', 'arraySource', 'readWav', 'writeWav', 'writeWavStream',
      'resample', 'Resampler', 'readTorchCheckpoint', 'readSafetensors', 'writeSafetensors',
      // priors, labels, sampling and scoring
      'loadPrior', 'savePrior', 'randomPrior', 'describePrior', 'convertPrior', 'priorPreset', 'Prior', 'Labeller', 'TextProcessor',
      'readLabelIdTables', 'ancestralSample', 'primedSample', 'continueSample', 'upsampleCodes', 'CoComposer', 'scoreCodes',
      'readBatchedCodesFile', 'writeBatchedCodesFile', 'samplePage', 'scoresPage']) {
      expect(typeof (jukebox as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(Object.keys(jukebox.VQVAE_PRESETS)).toEqual(['5b', 'small', 'default', 'mini', 'tiny']);
    for (const name of ['5b', '5b_lyrics', '1b_lyrics', 'upsampler_level_0', 'upsampler_level_1', 'default_top', 'tiny_top']) {
      expect(jukebox.PRIOR_PRESET_NAMES, name).toContain(name);
    }
  });

  it('round-trips audio through the public API: encode and decode a tiny model', async () => {
    await jukebox.initBackend();
    const model = jukebox.randomVQVAE(jukebox.vqvaePreset('tiny'), 1);
    const audio = new Float32Array(2048).map((_, i) => Math.sin(i / 10));
    const codes = await jukebox.encodeChunked(model, jukebox.arraySource(audio, 22050));
    expect(codes.map((c) => c.length)).toEqual([512, 256, 128]);
    let decoded = 0;
    await jukebox.decodeChunked(model, codes[2], 2, (chunk) => void (decoded += chunk.length));
    expect(decoded).toBe(2048);
    model.dispose();
  });
});
