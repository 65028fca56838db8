import * as path from 'path';
import { openAudioAsync } from '../audio/index';
import { initBackend } from '../backend';
import { loadVQVAE } from '../checkpoint/load';
import { writeCodesFile } from '../vqvae/codes-file';
import { encodeChunked } from '../vqvae/streaming';
import { VQVAEWorkerPool } from '../vqvae/worker-pool';
import { parseCommandArgs, parseWorkers, parseLevels, required } from './args';
import type { Command } from './main';
import { progressLine } from './progress';

const USAGE = 'jukebox encode <audio> --vqvae <ckpt> [--levels 0,1,2] --out <codes.safetensors> [--chunk-seconds S] [--workers N] [--quiet]';

export const encodeCommand: Command = {
  summary: 'Encode a WAV file (any rate, any channels) to VQ-VAE codes, chunk by chunk.',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('encode', USAGE, argv, {
      vqvae: { type: 'string' },
      levels: { type: 'string' },
      out: { type: 'string' },
      'chunk-seconds': { type: 'string' },
      quiet: { type: 'boolean' },
      workers: { type: 'string' },
    }, 1);
    const [audioPath] = args.positionals;
    const ckpt = required(args, 'vqvae', 'encode', USAGE);
    const out = required(args, 'out', 'encode', USAGE);
    await initBackend();
    const workers = parseWorkers(args.values.workers, 'encode');
    const { model } = loadVQVAE(ckpt);
    const source = await openAudioAsync(audioPath, model.config.sr);
    let pool: VQVAEWorkerPool | undefined;
    try {
      const levels = typeof args.values.levels === 'string' ? parseLevels(args.values.levels, model.config.levels) : model.allLevels();
      pool = workers > 1 ? await VQVAEWorkerPool.start(model, workers) : undefined;
      const chunkSeconds = args.values['chunk-seconds'] === undefined ? undefined : Number(args.values['chunk-seconds']);
      const sr = model.config.sr;
      const progress = progressLine('encoding', (n) => `${(n / sr).toFixed(1)} s`, args.values.quiet === true);
      const codes = await encodeChunked(model, source, levels, {
        chunkSamples: chunkSeconds !== undefined && chunkSeconds > 0 ? Math.round(chunkSeconds * sr) : undefined,
        onProgress: progress.update,
        pool,
      });
      progress.finish();
      await writeCodesFile(out, new Map(levels.map((level, i) => [level, codes[i]])), sr, model.hopLengths, {
        samples: String(source.length),
        source_audio: path.basename(audioPath),
        vqvae: path.basename(ckpt),
      });
    } finally {
      source.close();
      await pool?.close();
      model.dispose();
    }
  },
};
