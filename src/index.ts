/**
 * jukebox-ts: OpenAI's Jukebox as a typed TypeScript toolkit. This file is the public API; every
 * name a notebook or program should use is exported from here.
 *
 *   import { initBackend, loadVQVAE, openAudio, encodeChunked } from 'jukebox-ts';
 *   await initBackend();
 *   const { model } = loadVQVAE('vqvae.pth.tar');
 *   const codes = await encodeChunked(model, openAudio('song.wav', model.config.sr));
 *   model.dispose();
 */
export { initBackend, BACKEND_CHOICES } from './backend';
export type { BackendChoice, BackendInfo } from './backend';
export { JukeboxError } from './errors';
export { Rng } from './rng';
export * from './audio/index';
export * from './vqvae/index';
export * from './checkpoint/index';
export * from './metrics/index';
export * from './viz/index';
export * from './labels/index';
export * from './prior/index';
export * from './sample/index';
export * from './train/index';
export * from './align/index';
export { SampledLyricAttention } from './sample/capture';
export type { SampledLyricAttentionOptions } from './sample/capture';
export type { WindowAttentionSink } from './sample/types';
export type { SampleAttentionCapture } from './prior/autoregressive';
