import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTuple, unpickle } from '../../src/checkpoint/pickle';
import { bytes, encodePy, le, readJson, tempDir, errorOf } from './helpers';

const FILE = 'test.pkl';
const load = (data: Uint8Array): unknown => unpickle(data, { file: FILE }).value;


const fixtures = readJson<{ expected: unknown; pickles: Record<string, string>; long_memo: string }>('pickles.json');

describe('pickle VM on Python-written pickles', () => {
  it.each(['0', '1', '2', '3', '4', '5'])('decodes protocol %s exactly', (protocol) => {
    const blob = Buffer.from(fixtures.pickles[protocol], 'base64');
    const { value, end } = unpickle(new Uint8Array(blob), { file: FILE });
    expect(end).toBe(blob.length);
    expect(encodePy(value)).toEqual(fixtures.expected);
    const map = value as Map<string, unknown>;
    // Shared references stay shared (memo GET), tuples and lists stay distinct.
    expect(map.get('shared_a')).toBe(map.get('shared_b'));
    expect(isTuple(map.get('tuple3'))).toBe(true);
    expect(isTuple(map.get('list'))).toBe(false);
    expect(map.get('long4')).toBe(2n ** 2100n);
    expect(map.get('long1')).toBe(-(2n ** 100n));
    expect(map.get('int_big')).toBe(2n ** 62n);
    expect(map.get('np_u16')).toBe(65535);
    expect(map.get('text')).toBe('line1\nline2 \\u0041 back\\slash \u00e9 \u2713 \u{1F3B5} \x00 \x1a');
    expect(map.get('bytearray')).toEqual(new Uint8Array([0x10, 0x20]));
  });

  it('follows LONG_BINPUT / LONG_BINGET across more than 256 memo entries', () => {
    const blob = new Uint8Array(Buffer.from(fixtures.long_memo, 'base64'));
    expect(blob.includes(0x72)).toBe(true);
    const value = load(blob) as unknown[][];
    expect(value).toHaveLength(520);
    for (let i = 0; i < 260; i++) {
      expect(value[i]).toEqual([]);
      expect(value[i + 260]).toBe(value[i]);
    }
    expect(new Set(value).size).toBe(260);
  });
});

describe('pickle VM on hand-built pickles', () => {
  it('handles MARK, POP_MARK, DUP, POP and text opcodes', () => {
    // (K1 K2 1  K5 2 0 .  -> 5
    expect(load(bytes([0x80, 2, 0x28, 0x4b, 1, 0x4b, 2, 0x31, 0x4b, 5, 0x32, 0x30, 0x2e]))).toBe(5);
    // protocol 0: (I01\nI00\nI-12\nL123456789012345678901L\nF-1.5e3\nFinf\nt.
    const v = load(bytes('(I01\nI00\nI-12\nL123456789012345678901L\nF-1.5e3\nFinf\nt.')) as unknown[];
    expect(isTuple(v)).toBe(true);
    expect(v).toEqual([true, false, -12, 123456789012345678901n, -1500, Infinity]);
  });

  it('decodes STRING / BINSTRING / SHORT_BINSTRING (Python 2 str) and 8-byte-length opcodes', () => {
    const v = load(bytes(
      '(',
      "S'a\\'b\\n\\x41\\101\\\\'\n", // STRING with escapes
      'T', [3, 0, 0, 0], 'xyz', // BINSTRING
      'U', [2], 'hi', // SHORT_BINSTRING
      'U', [2], [0xff, 0xfe], // not UTF-8: stays bytes
      [0x8d], [2, 0, 0, 0, 0, 0, 0, 0], 'ok', // BINUNICODE8
      [0x8e], [3, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3], // BINBYTES8
      'l.',
    )) as unknown[];
    expect(v).toEqual(['a\'b\nAA\\', 'xyz', 'hi', new Uint8Array([0xff, 0xfe]), 'ok', new Uint8Array([1, 2, 3])]);
  });

  it('builds allow-listed classes through NEWOBJ and NEWOBJ_EX, and numpy scalars of each width', () => {
    const od = load(bytes([0x80, 4], 'ccollections\nOrderedDict\n)', [0x81], '(K', [1], 'K', [2], 'u.'));
    expect(od).toEqual(new Map([[1, 2]]));
    const s = load(bytes([0x80, 4], 'cbuiltins\nset\n', ']K', [9], 'a', [0x85], '}', [0x92], '.'));
    expect(s).toEqual(new Set([9]));
    // numpy.dtype('<i2') -> scalar(bytes ff 7f) = 32767 ; big-endian '>u2' via BUILD state.
    const dtype = (code: string) => bytes('cnumpy\ndtype\n', 'X', le(code.length, 4), code, [0x89, 0x88, 0x87, 0x52]);
    const scalar = (code: string, raw: number[], order = '<') => bytes(
      'cnumpy.core.multiarray\nscalar\n', dtype(code),
      '(K', [3], 'X', [1, 0, 0, 0], order, 'NNNJ', [0xff, 0xff, 0xff, 0xff], 'J', [0xff, 0xff, 0xff, 0xff], 'K', [0], 't', 'b',
      'C', [raw.length], raw, [0x86], 'R',
    );
    const cases: Array<[string, number[], unknown, string?]> = [
      ['i2', [0xff, 0x7f], 32767],
      ['u2', [0x01, 0x02], 0x0102, '>'],
      ['i8', [0, 0, 0, 0, 0, 0, 0, 0x80], -(2n ** 63n)],
      ['u8', [5, 0, 0, 0, 0, 0, 0, 0], 5],
      ['f4', [0, 0, 0xc0, 0x3f], 1.5],
      ['f2', [0x00, 0x3c], 1],
      ['b1', [1], true],
    ];
    for (const [code, raw, want, order] of cases) {
      expect(load(bytes([0x80, 3], scalar(code, raw, order), '.'))).toEqual(want);
    }
  });

  it('keeps deeply nested containers iterative (no recursion blow-up)', () => {
    const depth = 200_000;
    const parts: number[] = [0x80, 2];
    for (let i = 0; i < depth; i++) parts.push(0x5d);
    for (let i = 0; i < depth - 1; i++) parts.push(0x61);
    parts.push(0x2e);
    let v = load(Uint8Array.from(parts)) as unknown[];
    let n = 1;
    while (v.length === 1) {
      v = v[0] as unknown[];
      n++;
    }
    expect(n).toBe(depth);
  });
});

describe('pickle VM refuses', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('os.system through GLOBAL + REDUCE, and runs nothing', () => {
    const marker = path.join(dir, 'pwned-global');
    const cmd = `touch ${marker}`;
    const pkl = bytes("cos\nsystem\n(S'", cmd, "'\ntR.");
    const msg = errorOf(() => load(pkl));
    expect(msg).toBe(`${FILE}: refusing to load: the pickle references the global 'os.system', which is not on the allow-list`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('posix.system through STACK_GLOBAL + REDUCE, and runs nothing', () => {
    const marker = path.join(dir, 'pwned-stack-global');
    const cmd = `touch ${marker}`;
    const pkl = bytes([0x80, 4], [0x8c, 5], 'posix', [0x8c, 6], 'system', [0x93], 'X', le(cmd.length, 4), cmd, [0x85], 'R.');
    expect(errorOf(() => load(pkl))).toContain("the global 'posix.system', which is not on the allow-list");
    expect(fs.existsSync(marker)).toBe(false);
  });

  it.each([
    ['builtins', 'eval'], ['__builtin__', 'getattr'], ['builtins', 'getattr'], ['subprocess', 'Popen'],
    ['torch', 'load'], ['collections', 'defaultdict'], ['numpy.core.multiarray', '_reconstruct'], ['torch._utils', '__dict__'],
  ])('the global %s.%s', (module, name) => {
    expect(errorOf(() => load(bytes(`c${module}\n${name}\n.`)))).toContain(`'${module}.${name}', which is not on the allow-list`);
  });

  it.each([
    [[0x80, 2, 0x82, 1, 0x2e], 'unsupported pickle opcode 0x82 (EXT1) at byte 2'],
    [[0x80, 2, 0x28, 0x69, ...Array.from('os\nsystem\n', (c) => c.charCodeAt(0)), 0x2e], 'unsupported pickle opcode 0x69 (INST) at byte 3'],
    [[0x28, 0x6f, 0x2e], 'unsupported pickle opcode 0x6f (OBJ) at byte 1'],
    [[0x80, 5, 0x97, 0x2e], 'unsupported pickle opcode 0x97 (NEXT_BUFFER) at byte 2'],
    [[0x4e, 0xff], 'unsupported pickle opcode 0xff at byte 1'],
    [[0x80, 6, 0x4e, 0x2e], 'unsupported pickle protocol 6 at byte 0'],
  ])('bad opcode %j', (raw, message) => {
    expect(errorOf(() => load(Uint8Array.from(raw)))).toBe(`${FILE}: ${message}`);
  });

  it('truncated input, and lengths beyond the data without allocating them', () => {
    expect(errorOf(() => load(bytes([0x80, 2, 0x4a, 1, 2])))).toBe(`${FILE}: truncated pickle at byte 5`);
    expect(errorOf(() => load(bytes([0x80, 2, 0x5d])))).toBe(`${FILE}: truncated pickle at byte 3`);
    expect(errorOf(() => load(bytes([0x80, 2], 'X', [0xff, 0xff, 0xff, 0xff], 'abc')))).toBe(`${FILE}: truncated pickle at byte 10`);
    expect(errorOf(() => load(bytes([0x8e], [0, 0, 0, 0, 0, 0, 0, 0x7f], '.')))).toContain('truncated pickle');
    expect(errorOf(() => load(bytes([0x95], [0, 0, 0, 0, 1, 0, 0, 0], 'N.')))).toContain('truncated pickle');
    expect(errorOf(() => load(bytes('I12')))).toContain('truncated pickle at byte 3');
  });

  it('memo misses, stack underflow, and mutation of the wrong kind of object', () => {
    expect(errorOf(() => load(bytes([0x68, 7, 0x2e])))).toBe(`${FILE}: memo key 7 was never stored at byte 0`);
    expect(errorOf(() => load(bytes([0x2e])))).toBe(`${FILE}: stack underflow at byte 0`);
    expect(errorOf(() => load(bytes(')K', [1], 'a.')))).toContain('APPEND(S) on tuple of 0, not a list');
    expect(errorOf(() => load(bytes('}K', [1], 'b.')))).toContain('BUILD with int state on dict of 0 is not supported');
    expect(errorOf(() => load(bytes('cbuiltins\nset\n)', [0x81], 'K', [1], 'b.')))).toContain('BUILD with');
    expect(errorOf(() => load(bytes('ctorch._utils\n_rebuild_parameter\n)', [0x81, 0x2e])))).toContain('NEWOBJ on');
    expect(errorOf(() => load(bytes('ctorch\nFloatStorage\n)R.')))).toContain('cannot be called');
    expect(errorOf(() => load(bytes('N)R.')))).toContain('REDUCE on None');
    expect(errorOf(() => load(bytes('(K', [1], 'Q.')))).toContain('persistent id');
  });

  it('tensor rebuilds when the caller expects no tensors', () => {
    const pkl = bytes('ctorch._utils\n_rebuild_tensor_v2\n(NK', [0], '(K', [2], 't(K', [1], 't', [0x89], 'N', 'tR.');
    expect(errorOf(() => load(pkl))).toContain('the pickle holds a tensor, which this reader does not expect');
  });
});

describe('Jukebox hparams', () => {
  it('reads an hps pickled as jukebox.hparams.Hyperparams (a dict subclass) as a dict', () => {
    // pickle.dumps({'hps': Hyperparams(sr=44100, downs_t=(3,2,2), l_bins=2048)}, protocol=2)
    const hex = '80027d710058030000006870737101636a756b65626f782e68706172616d730a4879706572706172616d730a710229817103285802000000737271044d44ac5807000000646f776e735f7471054b034b024b0287710658060000006c5f62696e7371074d000875732e';
    const value = load(Uint8Array.from(Buffer.from(hex, 'hex'))) as Map<string, Map<string, unknown>>;
    const hps = value.get('hps')!;
    expect(hps).toBeInstanceOf(Map);
    expect(hps.get('sr')).toBe(44100);
    expect(hps.get('downs_t')).toEqual([3, 2, 2]);
    expect(isTuple(hps.get('downs_t'))).toBe(true);
    expect(hps.get('l_bins')).toBe(2048);
  });
});
