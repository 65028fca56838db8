export {
  windowStarts,
  hopLength,
  planLevelWindows,
  partialWindow,
  conditioningSpan,
  batchRanges,
  secondsToChunkedTokens,
  planScoreWindows,
} from './windows';
export type { SampleWindow } from './windows';
export type { SamplingPrior, ScoringPrior, SamplingPriorOptions, LevelSettings, SongCodes, SampleProgress } from './types';
export { DEFAULT_HOP_FRACTIONS, defaultLevelSettings, checkLevelLength, sampleWindow, sampleLevel, extendLevel, sampleLevels, codesForBatch } from './sampler';
export type { SampleLevelOptions, SampleLevelsOptions } from './sampler';
export { ancestralSample, primedSample, continueSample, upsampleCodes, geometryHopLengths, promptSamples, songSamples } from './modes';
export type { ModeOptions } from './modes';
export { CoComposer } from './co-compose';
export { scoreCodes, smoothedBits } from './score';
export type { ScoreOptions, ScoreResult } from './score';
export { readBatchedCodesFile, writeBatchedCodesFile } from '../vqvae/codes-file';
export type { BatchedCodesFile } from '../vqvae/codes-file';
export { samplePage, scoresPage, surpriseFigure, filePlayerHtml } from '../viz/sample-pages';
export type { SamplePageInput, ScoresPageInput, SurpriseFigureOptions, SampleAudioFile } from '../viz/sample-pages';
