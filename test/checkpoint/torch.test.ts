import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTuple } from '../../src/checkpoint/pickle';
import {
  TorchTensorRef, checkpointEntry, isTorchCheckpoint, isTorchTensorRef, readTorchCheckpoint, stateDictToFloat32,
} from '../../src/checkpoint/torch';
import {
  LEGACY_HEAD, bytes, decodeScalar, encodePy, fixture, le, pickleStr, readJson, tempDir, tensorPickle, writeTemp, errorOf } from './helpers';

interface ExpectedTensor {
  path: string[];
  dtype: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  storage_id: number;
  values: unknown[];
}
const expected = readJson<{ root: unknown; tensors: ExpectedTensor[] }>('expected.json');


function at(root: unknown, keys: string[]): unknown {
  let v = root;
  for (const k of keys) {
    expect(v).toBeInstanceOf(Map);
    v = (v as Map<unknown, unknown>).get(k);
  }
  return v;
}

/** The values `read()` should produce, as JS numbers/bigints (bools as 0/1). */
function readExpectation(t: ExpectedTensor): unknown[] {
  return t.values.map((x) => {
    const v = decodeScalar(x);
    if (t.dtype === 'bool') return v ? 1 : 0;
    if (t.dtype === 'int64') return BigInt(v as number | bigint);
    return v;
  });
}

const FORMATS: Array<[string, 'legacy' | 'zip']> = [
  ['checkpoint_legacy.pt', 'legacy'],
  ['checkpoint_legacy_p4.pt', 'legacy'],
  ['checkpoint_zip.pt', 'zip'],
  ['checkpoint_zip64.pt', 'zip'],
];

describe.each(FORMATS)('%s', (name, format) => {
  const ckpt = readTorchCheckpoint(fixture(name));
  afterAll(() => ckpt.close());

  it('is sniffed and opened in the right format', () => {
    expect(isTorchCheckpoint(fixture(name))).toBe(true);
    expect(ckpt.format).toBe(format);
    expect(ckpt.path).toBe(fixture(name));
  });

  it('unpickles the whole object graph (hps, state dict, tensors) as torch saved it', () => {
    expect(encodePy(ckpt.root)).toEqual(expected.root);
  });

  it('decodes the Jukebox-like hps dict', () => {
    const hps = checkpointEntry(ckpt, 'hps') as Map<unknown, unknown>;
    expect(hps.get('sr')).toBe(44100);
    expect(hps.get('levels')).toBe(3); // np.int64
    expect(hps.get('lr')).toBe(0.0003); // np.float64
    expect(hps.get('np_float32')).toBe(0.25);
    expect(hps.get('np_float16')).toBe(1.5);
    expect(hps.get('np_bool')).toBe(true);
    expect(hps.get('np_int64_big')).toBe(2n ** 62n + 1n);
    expect(hps.get('big')).toBe(2n ** 70n);
    expect(hps.get('downs_t')).toEqual([3, 2, 2]);
    expect(isTuple(hps.get('downs_t'))).toBe(true);
    expect(isTuple(hps.get('strides_t'))).toBe(false);
    expect(hps.get('restore_vqvae')).toBe(null);
    expect(hps.get('bytes')).toEqual(new Uint8Array([0, 255, 0x61, 0x62]));
    expect(hps.get('device')).toBe('cuda:0');
    expect(hps.get('size')).toEqual([2, 3]);
    expect((hps.get('nested') as Map<unknown, unknown>).get(3)).toBe('int key');
    expect(checkpointEntry(ckpt, 'step')).toBe(123);
    expect(checkpointEntry(ckpt, 'opt')).toBe(null);
  });

  it.each(expected.tensors.map((t) => [t.path.join('/'), t] as const))('tensor %s matches torch', (_, t) => {
    const ref = at(ckpt.root, t.path) as TorchTensorRef;
    expect(isTorchTensorRef(ref)).toBe(true);
    expect(ref.dtype).toBe(t.dtype);
    expect(ref.shape).toEqual(t.shape);
    expect(ref.stride).toEqual(t.stride);
    expect(ref.storageOffset).toBe(t.storage_offset);
    expect(ref.numel).toBe(t.values.length);
    const data = ref.read();
    const ctor = {
      float16: Uint16Array, bfloat16: Uint16Array, float32: Float32Array, float64: Float64Array, int8: Int8Array,
      int16: Int16Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
    }[t.dtype]!;
    expect(data).toBeInstanceOf(ctor);
    const f32 = Array.from(ref.readFloat32());
    const wantF32 = t.values.map((x) => Math.fround(Number(decodeScalar(x))));
    expect(f32).toEqual(wantF32);
    if (t.dtype !== 'float16' && t.dtype !== 'bfloat16') expect(Array.from(data as ArrayLike<unknown>)).toEqual(readExpectation(t));
  });

  it('shares storages exactly where torch does', () => {
    const refs = expected.tensors.map((t) => [t, at(ckpt.root, t.path) as TorchTensorRef] as const);
    for (const [a, ra] of refs) {
      for (const [b, rb] of refs) {
        expect(ra.storageKey === rb.storageKey).toBe(a.storage_id === b.storage_id);
      }
    }
  });

  it('turns the state dict into name -> {shape, Float32Array}', () => {
    const weights = stateDictToFloat32(checkpointEntry(ckpt, 'model'), ckpt.path);
    const want = expected.tensors.filter((t) => t.path[0] === 'model');
    expect([...weights.keys()]).toEqual(want.map((t) => t.path[1]));
    for (const t of want) {
      const w = weights.get(t.path[1])!;
      expect(w.shape).toEqual(t.shape);
      expect(w.data).toBeInstanceOf(Float32Array);
      expect(Array.from(w.data)).toEqual(t.values.map((x) => decodeScalar(x)));
    }
  });
});

describe('spot checks of view materialisation', () => {
  const ckpt = readTorchCheckpoint(fixture('checkpoint_legacy.pt'));
  afterAll(() => ckpt.close());
  const view = (name: string) => at(ckpt.root, ['views', name]) as TorchTensorRef;

  it('transposes, slices with an offset, steps and expands with a zero stride', () => {
    // base = arange(24).reshape(4, 6)
    expect(Array.from(view('transposed').readFloat32().subarray(0, 5))).toEqual([0, 6, 12, 18, 1]);
    expect(Array.from(view('sliced').readFloat32())).toEqual([8, 9, 10, 14, 15, 16, 20, 21, 22]);
    expect(Array.from(view('strided').readFloat32())).toEqual([0, 3, 12, 15]);
    expect(Array.from(view('expanded').readFloat32())).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(Array.from(view('shared_b').read() as Int32Array)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(Array.from(view('int64_transposed').read() as BigInt64Array)).toEqual([0n, 3n, 1n, 4n, 2n, 5n]);
    expect(Array.from(view('bf16_column').readFloat32())).toEqual([1, 5, 9]);
    expect(Array.from(view('scalar').readFloat32())).toEqual([3.5]);
    expect(view('empty').readFloat32()).toHaveLength(0);
  });

  it('refuses to read after close', () => {
    const other = readTorchCheckpoint(fixture('checkpoint_zip.pt'));
    const t = at(other.root, ['views', 'base']) as TorchTensorRef;
    other.close();
    expect(errorOf(() => t.read())).toContain('the checkpoint is closed');
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input

/** A legacy checkpoint holding one float tensor view `(size, stride, offset)` of a 4-element storage. */
function legacyTensorFile(size: number[], stride: number[], offset: number): Uint8Array {
  const main = bytes([0x80, 2], tensorPickle({ key: '0', numel: 4, legacy: true }, offset, size, stride), '.');
  const keys = bytes([0x80, 2], ']', pickleStr('0'), 'a.');
  const data = new Float32Array([1.5, 2.5, 3.5, 4.5]);
  return bytes(LEGACY_HEAD, main, keys, le(4, 8), new Uint8Array(data.buffer));
}

describe('bad checkpoints', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a hand-built legacy file reads back (sanity check of the builder)', () => {
    const p = writeTemp(dir, 'hand.pt', legacyTensorFile([2], [2], 1));
    expect(isTorchCheckpoint(p)).toBe(true);
    const ck = readTorchCheckpoint(p);
    expect(Array.from((ck.root as TorchTensorRef).readFloat32())).toEqual([2.5, 4.5]);
    ck.close();
  });

  it('a view beyond its storage', () => {
    const p = writeTemp(dir, 'oob.pt', legacyTensorFile([3], [2], 0));
    expect(errorOf(() => readTorchCheckpoint(p))).toBe(
      `${p}: bad view bounds: a tensor of shape [3], stride [2] at storage offset 0 needs 5 elements of storage '0', which has 4`,
    );
    const q = writeTemp(dir, 'oob2.pt', legacyTensorFile([1], [1], 4));
    expect(errorOf(() => readTorchCheckpoint(q))).toContain('bad view bounds');
  });

  it('truncated legacy checkpoints: in the storages, and in the pickle', () => {
    const full = fs.readFileSync(fixture('checkpoint_legacy.pt'));
    const cut = writeTemp(dir, 'cut-storage.pt', full.subarray(0, full.length - 10));
    expect(errorOf(() => readTorchCheckpoint(cut))).toMatch(/^.*cut-storage\.pt: truncated file: storage '\d+' needs bytes \d+\.\.\d+ but the file ends at byte \d+$/);
    const cut2 = writeTemp(dir, 'cut-pickle.pt', full.subarray(0, 300));
    expect(errorOf(() => readTorchCheckpoint(cut2))).toBe(`${cut2}: truncated pickle at byte 300`);
  });

  it('truncated zip checkpoints', () => {
    for (const name of ['checkpoint_zip.pt', 'checkpoint_zip64.pt']) {
      const full = fs.readFileSync(fixture(name));
      const half = writeTemp(dir, `half-${name}`, full.subarray(0, full.length >> 1));
      expect(errorOf(() => readTorchCheckpoint(half))).toBe(
        `${half}: zip end-of-central-directory record not found (the file is truncated or not a zip archive)`,
      );
      const nearly = writeTemp(dir, `nearly-${name}`, full.subarray(0, full.length - 30));
      expect(errorOf(() => readTorchCheckpoint(nearly))).toBe(
        `${nearly}: zip end-of-central-directory record not found (the file is truncated or not a zip archive)`,
      );
    }
    // Bytes missing from the middle: the directory survives but points past the end of the file.
    const full = fs.readFileSync(fixture('checkpoint_zip.pt'));
    const holed = writeTemp(dir, 'holed.pt', Buffer.concat([full.subarray(0, 1000), full.subarray(1200)]));
    expect(errorOf(() => readTorchCheckpoint(holed))).toMatch(
      /holed\.pt: zip central directory \(bytes \d+\.\.\d+\) lies beyond the end of the file at byte \d+ \(truncated\)$/,
    );
  });

  it('random bytes, empty files, tar files and missing files', () => {
    let seed = 12345;
    const random = new Uint8Array(4096).map(() => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed >> 16;
    });
    random[0] = 0x13;
    const p = writeTemp(dir, 'random.bin', random);
    expect(isTorchCheckpoint(p)).toBe(false);
    expect(errorOf(() => readTorchCheckpoint(p))).toBe(`${p}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save pickle)`);
    random[0] = 0x80;
    random[1] = 0x02;
    const q = writeTemp(dir, 'random80.bin', random);
    expect(isTorchCheckpoint(q)).toBe(false);
    expect(errorOf(() => readTorchCheckpoint(q))).toMatch(/random80\.bin: not a PyTorch checkpoint \(no legacy torch\.save magic number: /);
    const empty = writeTemp(dir, 'empty.pt', new Uint8Array(0));
    expect(errorOf(() => readTorchCheckpoint(empty))).toContain('not a PyTorch checkpoint');
    const tar = new Uint8Array(1024);
    tar.set(bytes('storages'), 0);
    tar.set(bytes('ustar'), 257);
    const t = writeTemp(dir, 'old.tar', tar);
    expect(errorOf(() => readTorchCheckpoint(t))).toContain('old tar-based torch.save format');
    expect(errorOf(() => readTorchCheckpoint(path.join(dir, 'nope.pt')))).toContain('cannot open checkpoint');
    expect(isTorchCheckpoint(path.join(dir, 'nope.pt'))).toBe(false);
  });

  it('a legacy checkpoint whose pickle names posix.system: refused, and nothing runs', () => {
    const marker = path.join(dir, 'pwned');
    const cmd = `touch ${marker}`;
    const main = bytes([0x80, 2], 'cposix\nsystem\nq\x00X', le(cmd.length, 4), cmd, [0x85], 'R.');
    const p = writeTemp(dir, 'evil.pt', bytes(LEGACY_HEAD, main));
    expect(isTorchCheckpoint(p)).toBe(true);
    expect(errorOf(() => readTorchCheckpoint(p))).toBe(
      `${p}: refusing to load: the pickle references the global 'posix.system', which is not on the allow-list`,
    );
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('unsupported storage types (complex64), in both formats', () => {
    for (const name of ['complex_legacy.pt', 'complex_zip.pt']) {
      expect(errorOf(() => readTorchCheckpoint(fixture(name)))).toBe(
        `${fixture(name)}: unsupported storage type 'torch.ComplexFloatStorage' (supported: FloatStorage, DoubleStorage, HalfStorage, BFloat16Storage, LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage, BoolStorage)`,
      );
    }
  });

  it('compressed zip entries', () => {
    expect(errorOf(() => readTorchCheckpoint(fixture('checkpoint_deflated.pt')))).toMatch(
      /checkpoint_deflated\.pt: zip entry '[^']+\/data\.pkl' is compressed \(method 8\); only stored \(uncompressed\) entries are supported$/,
    );
  });

  it('a zip without data.pkl, and a missing state-dict key', () => {
    const zipNoPkl = writeTemp(dir, 'plain.zip', zipOf([['a/b.txt', bytes('hello')]]));
    expect(isTorchCheckpoint(zipNoPkl)).toBe(true);
    expect(errorOf(() => readTorchCheckpoint(zipNoPkl))).toContain("the zip archive has no '<archive>/data.pkl' entry");
    const ck = readTorchCheckpoint(fixture('checkpoint_zip.pt'));
    expect(errorOf(() => checkpointEntry(ck, 'ema'))).toContain("the checkpoint has no 'ema' entry (it has: hps, model, dtypes, views, param, step, opt)");
    expect(errorOf(() => stateDictToFloat32(checkpointEntry(ck, 'hps'), ck.path))).toContain("state dict entry 'sr' is int, not a tensor");
    ck.close();
  });
});

/** A stored zip of the given entries (no CRCs; the reader does not check them). */
function zipOf(entries: Array<[string, Uint8Array]>): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = bytes(name);
    const local = bytes(le(0x04034b50, 4), le(20, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4), le(data.length, 4), le(data.length, 4),
      le(n.length, 2), le(0, 2), n, data);
    centrals.push(bytes(le(0x02014b50, 4), le(20, 2), le(20, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4), le(data.length, 4),
      le(data.length, 4), le(n.length, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4), le(offset, 4), n));
    locals.push(local);
    offset += local.length;
  }
  const cd = bytes(...centrals);
  return bytes(...locals, cd, le(0x06054b50, 4), le(0, 2), le(0, 2), le(entries.length, 2), le(entries.length, 2),
    le(cd.length, 4), le(offset, 4), le(0, 2));
}
