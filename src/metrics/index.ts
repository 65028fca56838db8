/**
 * Audio metrics: the reference's STFT and spectral losses (used by training), and
 * reconstruction-noise metrics that take tensors or Float32Arrays (see audio-metrics.ts).
 */
export { DEFAULT_STFT, MULTISPECTRAL_STFTS, stftMagnitude } from './stft';
export type { STFTSettings } from './stft';
export { convergence, itemNorm, multispectralLoss, spectralConvergence, spectralLoss, spectrogramDistance } from './spectral';
export { hzToMel, logMelSpectrogram, melBandCenters, melFilterbank, melFrequencies, melFromPower, melSpectrogram, melToHz } from './mel';
export type { LogMelOptions, LogMelSpectrogram, MelOptions } from './mel';
export {
  compareReconstruction,
  LOG_SPECTRAL_DISTANCE_EPS,
  logSpectralDistanceDb,
  MEL_L1_EPS,
  melL1,
  multiscaleSpectralDistance,
  siSdrDb,
  snrDb,
  SPECTRAL_CONVERGENCE_EPSILON,
  spectralConvergenceDb,
  spectralConvergenceLinear,
} from './audio-metrics';
export type {
  LogSpectralDistanceOptions,
  MelL1Options,
  MultiscaleSpectralOptions,
  ReconstructionMetrics,
  SpectralConvergenceOptions,
} from './audio-metrics';
