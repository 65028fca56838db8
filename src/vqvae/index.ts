export { VQVAE } from './vqvae';
export type { VQVAEConfig } from './config';
export { hopLengths, validateVQVAEConfig } from './config';
export { randomVQVAE } from './init';
export { decodeChunked, encodeChunked, DEFAULT_CHUNK_SAMPLES } from './streaming';
export type { ChunkOptions, SampleSource } from './streaming';
export { readCodesFile, writeCodesFile } from './codes-file';
export type { CodesFile } from './codes-file';
export { WeightMap } from './weights';
export type { ParameterSpec } from './weights';
export {
  codeAtom, codebookUsage, codebookUsageOverClips, codeNorms, codeVectors, nearestCodes, pcaProjection, tokenTimeline, topCodesTable, umapProjection, usageTable,
} from './inspect';
export type { CodebookUsage, Projection } from './inspect';
export { trainVQVAE, RUN_FILES } from './training-run';
export type { DataOptions, TrainRunOptions } from './training-run';
export { VQVAETrainer, DEFAULT_TRAIN_CONFIG } from './trainer';
export type { StepMetrics, TrainConfig } from './trainer';
