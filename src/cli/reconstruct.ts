import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeAll } from '../atomic-write';
import { openAudioAsync, writeWavStream } from '../audio/index';
import { initBackend } from '../backend';
import { loadVQVAE } from '../checkpoint/load';
import { JukeboxError } from '../errors';
import { compareReconstruction } from '../metrics/audio-metrics';
import { decodeChunked, encodeChunked } from '../vqvae/streaming';
import { VQVAEWorkerPool } from '../vqvae/worker-pool';
import { reconstructionReport } from '../viz/report';
import { parseCommandArgs, parseWorkers, parseLevels, required } from './args';
import type { Command } from './main';
import { progressLine } from './progress';

const USAGE = 'jukebox reconstruct <audio> --vqvae <ckpt> --out-dir <dir> [--levels 0,1,2] [--analysis-seconds S] [--workers N] [--quiet]';

/** JSON has no infinities: a perfect reconstruction's SNR is written as the string "Infinity". */
function jsonNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

export const reconstructCommand: Command = {
  summary: 'Reconstruct audio from each level: level_L.wav, metrics.json and an offline report.html.',
  usage: USAGE,
  async run(argv) {
    const args = parseCommandArgs('reconstruct', USAGE, argv, {
      vqvae: { type: 'string' },
      'out-dir': { type: 'string' },
      levels: { type: 'string' },
      'analysis-seconds': { type: 'string' },
      quiet: { type: 'boolean' },
      workers: { type: 'string' },
    }, 1);
    const [audioPath] = args.positionals;
    const ckpt = required(args, 'vqvae', 'reconstruct', USAGE);
    const outDir = required(args, 'out-dir', 'reconstruct', USAGE);
    const analysisSeconds = args.values['analysis-seconds'] === undefined ? 30 : Number(args.values['analysis-seconds']);
    if (!(analysisSeconds > 0)) throw new JukeboxError(`reconstruct: --analysis-seconds must be positive, got '${args.values['analysis-seconds']}'`);
    if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new JukeboxError('is not a directory', outDir);
    await initBackend();
    const workers = parseWorkers(args.values.workers, 'reconstruct');
    const { model } = loadVQVAE(ckpt);
    const source = await openAudioAsync(audioPath, model.config.sr);
    let pool: VQVAEWorkerPool | undefined;
    try {
      const sr = model.config.sr;
      const levels = typeof args.values.levels === 'string' ? parseLevels(args.values.levels, model.config.levels) : model.allLevels();
      pool = workers > 1 ? await VQVAEWorkerPool.start(model, workers) : undefined;
      const quiet = args.values.quiet === true;
      const progress = progressLine('encoding', (n) => `${(n / sr).toFixed(1)} s`, quiet);
      const codes = await encodeChunked(model, source, levels, { onProgress: progress.update, pool });
      progress.finish();
      fs.mkdirSync(outDir, { recursive: true });
      // The analysis (metrics, report) covers the first `analysisSeconds`: long songs would make
      // the spectrograms and the report's embedded audio very large. The WAVs cover everything.
      const analysisLength = Math.min(source.length, Math.round(analysisSeconds * sr));
      const reconstructions: Float32Array[] = [];
      for (const [i, level] of levels.entries()) {
        const hop = model.hopLengths[level];
        const excerpt = new Float32Array(analysisLength);
        let written = 0;
        const decoding = progressLine(`decoding level ${level}`, (n) => `${((n * hop) / sr).toFixed(1)} s`, quiet);
        await writeWavStream(path.join(outDir, `level_${level}.wav`), { sampleRate: sr, channels: 1, frames: codes[i].length * hop, format: 'float32' }, (write) =>
          decodeChunked(model, codes[i], level, (chunk) => {
            write(chunk);
            if (written < analysisLength) excerpt.set(chunk.subarray(0, analysisLength - written), written);
            written += chunk.length;
          }, { onProgress: decoding.update, pool }),
        );
        decoding.finish();
        // Decoded audio is tokens × hop long and may end a few samples before the input.
        reconstructions.push(excerpt.subarray(0, Math.min(analysisLength, written)));
      }
      const original = source.read(0, analysisLength);
      const metrics = compareReconstruction(original, reconstructions, sr);
      const json = {
        audio: path.basename(audioPath),
        vqvae: path.basename(ckpt),
        sample_rate: sr,
        hop_lengths: model.hopLengths,
        duration_seconds: source.length / sr,
        analysis_seconds: metrics.length > 0 ? Math.min(...reconstructions.map((r) => r.length)) / sr : 0,
        ...Object.fromEntries(metrics.map((m, i) => [`level_${levels[i]}`, Object.fromEntries(Object.entries(m).map(([k, v]) => [k, k === 'level' ? levels[i] : jsonNumber(v)]))])),
      };
      await writeFileAtomic(path.join(outDir, 'metrics.json'), (fd) => writeAll(fd, Buffer.from(JSON.stringify(json, null, 2) + '\n')));
      const html = reconstructionReport({
        audioName: path.basename(audioPath),
        modelName: path.basename(ckpt),
        sampleRate: sr,
        totalSeconds: source.length / sr,
        original,
        reconstructions,
        levels,
        hopLengths: model.hopLengths,
        codes,
        codebookSize: model.config.l_bins,
        metrics,
      });
      await writeFileAtomic(path.join(outDir, 'report.html'), (fd) => writeAll(fd, Buffer.from(html)));
      if (!quiet) {
        for (const [i, m] of metrics.entries()) {
          process.stderr.write(`level ${levels[i]}: spectral convergence ${m.spectral_convergence_db.toFixed(2)} dB, SNR ${m.snr_db.toFixed(2)} dB, SI-SDR ${m.si_sdr_db.toFixed(2)} dB\n`);
        }
      }
    } finally {
      source.close();
      await pool?.close();
      model.dispose();
    }
  },
};
