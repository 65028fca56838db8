import { writeWavStream } from '../audio/index';
import { initBackend } from '../backend';
import { loadVQVAE } from '../checkpoint/load';
import { JukeboxError } from '../errors';
import { readCodesFile } from '../vqvae/codes-file';
import { decodeChunked } from '../vqvae/streaming';
import { VQVAEWorkerPool } from '../vqvae/worker-pool';
import { parseCommandArgs, parseTake, parseWorkers, required } from './args';
import type { Command } from './main';
import { progressLine } from './progress';

const USAGE = 'jukebox decode <codes.safetensors> --vqvae <ckpt> --level <L> --out <out.wav> [--take K] [--workers N] [--quiet]';

export const decodeCommand: Command = {
  summary: "Decode one level's codes to a 32-bit float WAV at the model's rate (--take K: item K of a batched codes file).",
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('decode', USAGE, argv, {
      vqvae: { type: 'string' },
      level: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
      workers: { type: 'string' },
      take: { type: 'string' },
    }, 1);
    const [codesPath] = args.positionals;
    const ckpt = required(args, 'vqvae', 'decode', USAGE);
    const levelText = required(args, 'level', 'decode', USAGE);
    const out = required(args, 'out', 'decode', USAGE);
    const level = Number(levelText);
    if (!Number.isInteger(level) || level < 0) throw new JukeboxError(`decode: --level must be a level number, got '${levelText}'`);
    const file = readCodesFile(codesPath, parseTake(args.values.take, 'decode'));
    const codes = file.levels.get(level);
    if (codes === undefined) {
      const have = [...file.levels.keys()].map((l) => `level_${l}`).join(', ');
      throw new JukeboxError(`has no codes for level ${level} (it holds ${have})`, codesPath);
    }
    await initBackend();
    const workers = parseWorkers(args.values.workers, 'decode');
    const { model } = loadVQVAE(ckpt);
    let pool: VQVAEWorkerPool | undefined;
    try {
      if (level >= model.config.levels) {
        throw new JukeboxError(`the VQ-VAE has no level ${level} (levels 0..${model.config.levels - 1})`, ckpt);
      }
      const sameModel = file.sampleRate === model.config.sr && JSON.stringify(file.hopLengths) === JSON.stringify(model.hopLengths);
      if (!sameModel) {
        throw new JukeboxError(
          `codes were made by a VQ-VAE at ${file.sampleRate} Hz with hop lengths [${file.hopLengths}], but ${ckpt} is at ${model.config.sr} Hz with hop lengths [${model.hopLengths}]`,
          codesPath,
        );
      }
      // Checks first: a worker pool is slow to start.
      pool = workers > 1 ? await VQVAEWorkerPool.start(model, workers) : undefined;
      const hop = model.hopLengths[level];
      const progress = progressLine('decoding', (n) => `${((n * hop) / model.config.sr).toFixed(1)} s`, args.values.quiet === true);
      await writeWavStream(out, { sampleRate: model.config.sr, channels: 1, frames: codes.length * hop, format: 'float32' }, (write) =>
        decodeChunked(model, codes, level, write, { onProgress: progress.update, pool }),
      );
      progress.finish();
    } finally {
      await pool?.close();
      model.dispose();
    }
  },
};
