import { DEFAULT_STFT } from '../metrics/stft';
import { logMelSpectrogram } from '../metrics/mel';
import type { ReconstructionMetrics } from '../metrics/audio-metrics';
import { codeTimelineFigure, levelLabel, spectrogramsFigure, usageHistogramFigure, waveformFigure } from './figures';
import { audioPlayerHtml, figureHtml, gridHtml, htmlPage, sectionHtml, tableHtml } from './html';

/** Everything a reconstruction report shows. */
export interface ReconstructionReportInput {
  /** The input file's name. */
  audioName: string;
  /** The checkpoint's name. */
  modelName: string;
  sampleRate: number;
  /** Length of the whole input in seconds. */
  totalSeconds: number;
  /** The analysed excerpt of the input (from its start). */
  original: Float32Array;
  /** Each level's reconstruction of the same excerpt, in level order. */
  reconstructions: Float32Array[];
  /** The levels `reconstructions` belong to. */
  levels: number[];
  hopLengths: number[];
  /** Codes of the whole input per level (for usage and the timeline). */
  codes: Int32Array[];
  codebookSize: number;
  metrics: ReconstructionMetrics[];
}

function melPanel(title: string, x: Float32Array, sampleRate: number) {
  const spec = logMelSpectrogram(x, sampleRate);
  const rows = Array.from({ length: spec.frames }, (_, f) => spec.db.subarray(f * spec.nMels, (f + 1) * spec.nMels));
  return { title, db: rows, hopSeconds: DEFAULT_STFT.hopLength / sampleRate, melFrequencies: Array.from(spec.frequencies) };
}

/**
 * A standalone, offline HTML page comparing a song with its reconstruction from each level:
 * metrics table, log-mel spectrograms side by side, audio players, the codes used and their
 * timeline. The plotly bundle is inlined once; the page loads nothing from the network.
 */
export function reconstructionReport(input: ReconstructionReportInput): string {
  const { sampleRate: sr, levels } = input;
  const seconds = input.original.length / sr;
  const excerpt = seconds < input.totalSeconds - 1e-6 ? ` (the first ${seconds.toFixed(1)} s of ${input.totalSeconds.toFixed(1)} s)` : '';
  const rows = input.metrics.map((m, i) => {
    const level = levels[i];
    const used = new Set(input.codes[i]).size;
    return {
      level: levelLabel(level),
      hop: input.hopLengths[level],
      'tokens/s': Math.round(sr / input.hopLengths[level]),
      'spectral convergence (dB)': m.spectral_convergence_db,
      'SNR (dB)': m.snr_db,
      'SI-SDR (dB)': m.si_sdr_db,
      'LSD (dB)': m.log_spectral_distance_db,
      'mel L1': m.mel_l1,
      'codes used': `${used} / ${input.codebookSize}`,
    };
  });
  const players = [audioPlayerHtml(input.original, sr, { label: 'original' }), ...input.reconstructions.map((x, i) => audioPlayerHtml(x, sr, { label: levelLabel(levels[i]) }))];
  const spectrograms = spectrogramsFigure([
    melPanel('original', input.original, sr),
    ...input.reconstructions.map((x, i) => melPanel(levelLabel(levels[i]), x, sr)),
  ], { title: 'Log-mel spectrograms' });
  return htmlPage({
    title: `Reconstruction of ${input.audioName}`,
    subtitle: `VQ-VAE ${input.modelName} · ${sr} Hz · levels ${levels.join(', ')} · hop lengths ${levels.map((l) => input.hopLengths[l]).join(' / ')}`,
    sections: [
      sectionHtml('Metrics', tableHtml(rows, { digits: 3 }), {
        description: `Each level decoded from its own codes and compared with the input${excerpt}. Spectral convergence uses the reference implementation's STFT (n_fft 2048, hop 256, window 1536). Lower is better for spectral convergence, log-spectral distance (LSD) and mel L1; higher is better for SNR and SI-SDR.`,
      }),
      sectionHtml('Spectrograms', figureHtml(spectrograms)),
      sectionHtml('Listen', gridHtml(players, { minWidth: 260 })),
      sectionHtml('Waveform', figureHtml(waveformFigure(input.original, sr, { title: `Input${excerpt}` }))),
      sectionHtml('Codes', [
        figureHtml(usageHistogramFigure(input.codes.map((counts, i) => ({ counts: countCodes(counts, input.codebookSize), level: levels[i] })), { log: true, hopLengths: input.hopLengths })),
        figureHtml(codeTimelineFigure(input.codes, levels.map((l) => input.hopLengths[l]), sr, { bins: input.codebookSize, levelLabels: levels.map((l) => levelLabel(l)) })),
      ], { description: 'How often each code occurs in the whole input, and which code is chosen over time.' }),
    ],
  });
}

function countCodes(codes: Int32Array, bins: number): Int32Array {
  const counts = new Int32Array(bins);
  for (const c of codes) counts[c]++;
  return counts;
}
