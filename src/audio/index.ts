export { openWav, readWav, readWavMono } from './wav';
export type { WavInfo, WavReader, WavSampleFormat } from './wav';
export { writeWav, writeWavStream } from './wav-write';
export type { WavChunkWriter, WavStreamSpec, WavWriteFormat, WavWriteOptions } from './wav-write';
export { DEFAULT_RESAMPLER_OPTIONS, Resampler, resample } from './resample';
export type { FrameSpan, ResamplerOptions } from './resample';
export { arraySource, openAudio, resampleSource, wavSource } from './source';
export type { AudioSource } from './source';
