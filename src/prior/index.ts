export { Prior } from './prior';
export type { PriorForwardOptions, PriorForwardResult, PriorSampleOptions } from './prior';
export { PRIOR_DEFAULTS, PRIOR_CONFIG_KEYS, validatePriorConfig, levelDownsamples, rawToTokens } from './config';
export type { PriorConfig } from './config';
export { PRIOR_PRESET_NAMES, priorPreset } from './presets';
export { priorConfigFromHps, hpsFromPriorConfig } from './hps';
export {
  loadPrior, savePrior, randomPrior, describePrior, isPriorCheckpoint, convertPrior, priorFloat32Bytes, checkBackendCapacity, WASM_MAX_MODEL_BYTES, PRIOR_FORMAT,
} from './load';
export type { LoadPriorOptions, LoadedPrior, PriorDescription } from './load';
export { ConditionalAutoregressive2D } from './autoregressive';
export { drawToken } from './draw';
export type { SamplingSettings } from './draw';
export { Conditioner, LabelConditioner } from './conditioners';
