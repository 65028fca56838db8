export { loadVQVAE, readVQVAEStateDict, saveVQVAE, saveVQVAEStateDict } from './load';
export type { CheckpointFormat, VQVAEStateDict } from './load';
export { VQVAE_PRESETS, vqvaePreset } from './presets';
export { configFromHps, hpsFromConfig } from './hps';
export { isTorchCheckpoint, readTorchCheckpoint, stateDictToFloat32, checkpointEntry } from './torch';
export type { TorchCheckpoint, TorchDtype, TorchTensorRef } from './torch';
export { isSafetensors, openSafetensors, readSafetensors, writeSafetensors, writeSafetensorsStreamed } from './safetensors';
export type { SafetensorsDtype, SafetensorsTensor, StreamedSafetensorsTensor } from './safetensors';
