/**
 * Hand-built WAV bytes for the audio tests: every header field is written out here, independently
 * of the writer under test.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** A chunk: 4-byte id, little-endian size, body, and a pad byte when the size is odd. */
export function chunk(id: string, body: Uint8Array, declaredSize = body.length): Buffer {
  const pad = body.length % 2 === 1 ? Buffer.from([0]) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from(id, 'latin1'), u32(declaredSize), body, pad]);
}

/** The 16-byte WAVEFORMAT body (PCM = 1, IEEE float = 3). */
export function fmtBody(tag: number, channels: number, sampleRate: number, bits: number): Buffer {
  const blockAlign = (channels * bits) / 8;
  return Buffer.concat([u16(tag), u16(channels), u32(sampleRate), u32(sampleRate * blockAlign), u16(blockAlign), u16(bits)]);
}

/** The 40-byte WAVE_FORMAT_EXTENSIBLE body with sub-format `subCode` (KSDATAFORMAT_SUBTYPE_PCM = 1, _IEEE_FLOAT = 3). */
export function extensibleFmtBody(subCode: number, channels: number, sampleRate: number, bits: number, validBits = bits): Buffer {
  const guidTail = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);
  return Buffer.concat([
    fmtBody(0xfffe, channels, sampleRate, bits),
    u16(22), // cbSize
    u16(validBits),
    u32(channels === 2 ? 0x3 : 0), // channel mask
    u16(subCode),
    guidTail,
  ]);
}

/** RIFF/WAVE around the given chunks (RIFF size computed from them). */
export function riff(...chunks: Uint8Array[]): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), u32(body.length), body]);
}

/** A simple WAV: fmt then data. */
export function simpleWav(tag: number, channels: number, sampleRate: number, bits: number, data: Uint8Array): Buffer {
  return riff(chunk('fmt ', fmtBody(tag, channels, sampleRate, bits)), chunk('data', data));
}

export function int16Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

export function int24Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 3);
  values.forEach((v, i) => b.writeIntLE(v, i * 3, 3));
  return b;
}

export function int32Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

export function float32Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

export function float64Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeDoubleLE(v, i * 8));
  return b;
}

/** A fresh temporary directory and a way to remove it. */
export function tempDir(prefix: string): { dir: string; file(name: string, bytes?: Uint8Array): string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `jukebox-${prefix}-`));
  return {
    dir,
    file(name: string, bytes?: Uint8Array): string {
      const p = path.join(dir, name);
      if (bytes) fs.writeFileSync(p, bytes);
      return p;
    },
    cleanup(): void {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
