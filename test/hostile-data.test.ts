/**
 * Sample-data files made to hurt (test/sample-data.test.ts has the good ones): gzip bombs,
 * headers that promise more or less than the file holds, sizes that overflow, .npz entries that
 * disagree with their archive, and paths that are not files. Each is a real file; each must end
 * in one clear line naming the file, quickly and without the memory the file asks for.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { zipSync } from 'fflate';
import { dump } from 'npyjs';
import { WnError } from '../src/errors';
import { readSampleData } from '../src/data/sample-data';
import { assertOneLineError, cli, root } from './helpers/cli';

const MB = 1 << 20;
const IDX_UINT8 = 0x08;

/** An IDX file: magic, dims as big-endian int32 (negative ones too), then the payload. */
function idx(dims: number[], payload: Uint8Array = new Uint8Array(dims.reduce((n, d) => n * d, 1)), type = IDX_UINT8): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, type);
  header.setUint8(3, dims.length);
  dims.forEach((d, i) => header.setInt32(4 + 4 * i, d));
  return Buffer.concat([new Uint8Array(header.buffer), payload]);
}

/** A version 1.0 .npy file with the header dict as given (padded as numpy pads it), then the data. */
function npy(dict: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const headerBytes = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = Buffer.from(`${dict.padEnd(headerBytes - 1)}\n`, 'latin1');
  const prefix = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, headerBytes & 0xff, headerBytes >> 8]);
  return Buffer.concat([prefix, header, data]);
}

/** The header dict numpy writes for a C-ordered array. */
const dict = (shape: string, descr = '<f4') => `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;

const gzip = (bytes: Uint8Array) => zlib.gzipSync(bytes, { level: 9 });

/** gzip of the parts in sequence, streamed (a 200 MB payload never sits in this process). */
async function gzipStream(parts: Iterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const collect = new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk); done(); } });
  await pipeline(Readable.from(parts), zlib.createGzip({ level: 9 }), collect);
  return Buffer.concat(chunks);
}

/** A copy of a gzip file whose trailer records `size` as the content's size (ISIZE). */
function withIsize(gz: Uint8Array, size: number): Buffer {
  const copy = Buffer.from(gz);
  copy.writeUInt32LE(size, copy.length - 4);
  return copy;
}

/** A TensorProto by hand: dims (field 1, int64), data_type FLOAT (field 2), raw_data (field 9). */
function tensorProto(dims: bigint[], raw: Uint8Array): Uint8Array {
  const varint = (value: bigint) => {
    const bytes: number[] = [];
    for (let v = BigInt.asUintN(64, value); ; v >>= 7n) {
      if (v < 0x80n) return [...bytes, Number(v)];
      bytes.push(Number(v & 0x7fn) | 0x80);
    }
  };
  const fields = [...dims.flatMap((d) => [0x08, ...varint(d)]), 0x10, 1, 0x4a, ...varint(BigInt(raw.length))];
  return Buffer.concat([Uint8Array.from(fields), raw]);
}

describe('hostile sample data', () => {
  let dir: string;
  let wnModel: string;
  const file = (name: string, bytes: Uint8Array) => {
    const at = path.join(dir, name);
    fs.writeFileSync(at, bytes);
    return at;
  };
  const read = (at: string) => readSampleData(fs.readFileSync(at), at);

  /** Reading is refused with one line that names the file and matches `pattern`. */
  const assertRefused = (at: string, pattern: RegExp) => {
    assert.throws(() => read(at), (e: Error) => {
      assert.ok(e instanceof WnError, `a WnError, got ${e.stack}`);
      assert.ok(e.message.startsWith(`${at}:`), `names the file: ${e.message}`);
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, pattern);
      return true;
    });
  };

  /**
   * Reads the file in a process of its own: the error, the time it took, and how far the peak
   * RSS rose above the RSS before reading (this process's own heap would blur both).
   */
  const readInChild = (at: string) => {
    const module = path.join(__dirname, '..', 'src', 'data', 'sample-data.js');
    const script = `
      const { readSampleData } = require(${JSON.stringify(module)});
      const bytes = require('node:fs').readFileSync(process.argv[1]);
      const before = process.memoryUsage().rss;
      const start = Date.now();
      let message;
      try { readSampleData(bytes, process.argv[1]); } catch (e) { message = e.message; }
      console.log(JSON.stringify({ message, ms: Date.now() - start, growth: process.resourceUsage().maxRSS * 1024 - before }));`;
    const child = spawnSync(process.execPath, ['-e', script, at], { timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr.toString());
    return JSON.parse(child.stdout.toString()) as { message?: string; ms: number; growth: number };
  };

  /** The CLI, stopped after 30 s: a FIFO that blocked or a device read on would otherwise hang the suite. */
  const initWith = (data: string) => {
    const args = ['init', wnModel, '--data', data, '-o', path.join(dir, 'out.onnx')];
    const result = spawnSync(process.execPath, [path.join(root, 'bin', 'wn-onnx.js'), ...args], { timeout: 30_000 });
    assert.equal(result.signal, null, 'the CLI finished on its own');
    return { code: result.status, stdout: result.stdout, out: result.stdout.toString(), err: result.stderr.toString() };
  };

  /** A gzipped IDX whose header says [10, 28, 28] uint8 (7840 bytes) followed by 200 MB of zeros: 200 KB of gzip. */
  let bomb: Buffer;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-hostile-'));
    const zeros = new Uint8Array(MB);
    bomb = await gzipStream([idx([10, 28, 28], new Uint8Array(0)), ...Array.from({ length: 200 }, () => zeros)]);
    assert.ok(bomb.length < MB);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('gzip', () => {
    it('a bomb is refused by its trailer before inflating, quickly and in little memory', () => {
      const { message, ms, growth } = readInChild(file('bomb.idx.gz', bomb));
      const expected = `the gzip member inflates to ${16 + 200 * MB} bytes \\(its trailer says\\) but its IDX header declares 7856`;
      assert.match(message ?? '', new RegExp(expected));
      assert.ok(growth < 100 * MB, `peak RSS rose ${growth / MB} MB`);
      assert.ok(ms < 5000, `${ms} ms`);
    });

    it('the same bomb with its trailer forged to match the header stops inflating at the declared size', () => {
      const { message, growth } = readInChild(file('forged.idx.gz', withIsize(bomb, 16 + 7840)));
      assert.match(message ?? '', /the gzip content inflates to more than the 7856 bytes declared for it/);
      assert.ok(growth < 100 * MB, `peak RSS rose ${growth / MB} MB`);
    });

    it('a trailer size (ISIZE) that disagrees with the IDX header inside', () => {
      const good = gzip(idx([2, 3]));
      assert.deepEqual(read(file('good.idx.gz', good)).get('')!.shape, [2, 3]);
      assertRefused(file('isize.idx.gz', withIsize(good, 23)), /inflates to 23 bytes \(its trailer says\) but its IDX header declares 18/);
    });

    it('a truncated gzip: cut in the compressed data, cut in its header', () => {
      const payload = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
      const gz = gzip(idx([4, 1024], payload));
      assertRefused(file('cut.idx.gz', gz.subarray(0, gz.length >> 1)), /truncated/);
      assertRefused(file('cut-header.gz', gz.subarray(0, 12)), /gzip data is damaged or truncated/);
    });

    it('several gzip members (concatenated gzip files) are refused clearly', () => {
      assertRefused(file('two.gz', Buffer.concat([gzip(Buffer.from('hello')), gzip(Buffer.from('world'))])), /more than one gzip member/);
    });

    it('content without a header (not IDX or .npy) is held to the trailer size', () => {
      const gz = gzip(new Uint8Array(64 * 1024).fill(7));
      assertRefused(file('small-isize.gz', withIsize(gz, 100)), /the gzip content inflates to more than the 100 bytes declared for it/);
    });

    it('a gzipped .npy reads; its header is checked against the trailer too', () => {
      const values = Float32Array.from({ length: 24 }, (_, i) => i);
      const gz = gzip(new Uint8Array(dump(values, [6, 4])));
      const array = read(file('x.npy.gz', gz)).get('')!;
      assert.deepEqual(array.shape, [6, 4]);
      assert.equal(array.dtype, 'float32');
      assert.deepEqual(Array.from(array.data, Number), Array.from(values));
      assertRefused(file('isize.npy.gz', withIsize(gz, 1000)),
        /inflates to 1000 bytes \(its trailer says\) but its \.npy header declares 160/);
    });
  });

  describe('.npy', () => {
    const f4 = (n: number) => new Uint8Array(Float32Array.from({ length: n }, (_, i) => i).buffer);

    it('a header that promises more, or less, than the file holds', () => {
      assertRefused(file('more.npy', npy(dict('(1000, 1000)'), f4(24))),
        /shape \[1000,1000\] of float32, 4000000 bytes of data, but the file holds 96/);
      assertRefused(file('less.npy', npy(dict('(2,)'), f4(24))), /8 bytes of data, but the file holds 96/);
    });

    it('negative, non-integer and overflowing dims', () => {
      assertRefused(file('negative.npy', npy(dict('(-4, 6)'), f4(24))), /declares shape \[-4, 6\] of float32, and -4 is not a size/);
      assertRefused(file('fraction.npy', npy(dict('(2.5, 4)'))), /"2\.5" is not a whole number/);
      for (const descr of ['__proto__', 'constructor', '<f4\n', '<c8']) {
        assertRefused(file('dtype.npy', npy(dict('(1,)', descr), f4(2))), /dtype .* is not a numeric type wn-onnx reads/);
      }
      assertRefused(file('huge.npy', npy(dict('(4294967296, 4294967296, 4294967296)', '<f8'))),
        /declares shape \[4294967296, 4294967296, 4294967296\] of float64: 633825300114114700748351602688 bytes, more than the 2 GiB/);
    });

    it('a malformed header, an absurd header length, a truncated header', () => {
      assertRefused(file('no-shape.npy', npy("{'descr': '<f4'}")), /not a dict with 'descr', 'fortran_order' and 'shape' of/);
      const absurd = Buffer.from([0x93, ...Buffer.from('NUMPY'), 2, 0, 0xf0, 0xff, 0xff, 0xff]);
      assertRefused(file('absurd.npy', absurd), /header says it is 4294967280 bytes long/);
      assertRefused(file('cut.npy', npy(dict('(6, 4)')).subarray(0, 40)), /\.npy header is truncated/);
    });

    it('big-endian values are read as numpy wrote them', () => {
      const data = new DataView(new ArrayBuffer(12));
      [1.5, -2, 1e6].forEach((v, i) => data.setFloat32(4 * i, v));
      const array = read(file('big-endian.npy', npy(dict('(3,)', '>f4'), new Uint8Array(data.buffer)))).get('')!;
      assert.deepEqual(Array.from(array.data), [1.5, -2, 1e6]);
    });
  });

  describe('IDX', () => {
    it('a negative dim, and dims whose product overflows', () => {
      assertRefused(file('negative.idx', idx([-1, 28], new Uint8Array(28))),
        /IDX header declares shape \[-1, 28\] of uint8, and -1 is not/);
      const max = 2 ** 31 - 1;
      assertRefused(file('overflow.idx', idx([max, max, max], new Uint8Array(16))),
        /\[2147483647, 2147483647, 2147483647\] of uint8: 9903520300447984150353281023 bytes, more than the 2 GiB/);
    });

    it('data shorter than the header declares', () => {
      assertRefused(file('short.idx', idx([10, 28, 28], new Uint8Array(100))),
        /has 100 data bytes, its shape \[10,28,28\] of uint8 needs 7840/);
    });
  });

  describe('.pb (TensorProto)', () => {
    it('a negative dim, a size over the limit, raw data shorter than the shape', () => {
      assertRefused(file('negative.pb', tensorProto([-1n, 4n], new Uint8Array(16))),
        /TensorProto header declares shape \[-1, 4\] of float32, and -1/);
      assertRefused(file('huge.pb', tensorProto([1n << 40n, 1n << 40n], new Uint8Array(16))), /more than the 2 GiB/);
      assertRefused(file('short.pb', tensorProto([6n, 4n], new Uint8Array(16))),
        /raw_data has 16 bytes, its shape \[6,4\] of FLOAT needs 96/);
    });
  });

  describe('.npz', () => {
    const header = (shape: string) => dict(shape, '|u1');

    it('an entry whose .npy header disagrees with the size the archive records is refused before it is inflated', () => {
      const zip = zipSync({ 'x.npy': npy(header('(1000000,)'), new Uint8Array(10)) }, { level: 9 });
      assertRefused(file('disagree.npz', zip), /entry "x\.npy" is 138 bytes, the archive says, but its \.npy header declares 1000128/);
    });

    it('an entry whose recorded size is forged to match its header stops inflating at that size', () => {
      const zip = Buffer.from(zipSync({ 'x.npy': npy(header('(10,)'), new Uint8Array(200_000)) }, { level: 9 }));
      zip.writeUInt32LE(128 + 10, 22); // the local header's uncompressed size
      assertRefused(file('forged.npz', zip), /entry "x\.npy" inflates to more than the 138 bytes declared for it/);
    });

    it('an entry whose recorded size is over the limit', () => {
      const zip = Buffer.from(zipSync({ 'x.npy': npy(header('(10,)'), new Uint8Array(10)) }, { level: 0 }));
      zip.writeUInt32LE(0xfffffff0, 22);
      assertRefused(file('huge.npz', zip), /entry "x\.npy" is, the archive says, 4294967280 bytes, more than the 2 GiB/);
    });

    it('odd entry names are only names, quoted and escaped in messages', () => {
      const zip = zipSync({ '../\u001b[31mevil\n.npy': new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
      assertRefused(file('names.npz', zip), /entry "\.\.\/\\x1b\[31mevil\\n\.npy" is not an \.npy array/);
    });
  });

  describe('through the CLI', () => {
    before(() => {
      wnModel = path.join(dir, 'cnn_wn.onnx');
      const convert = cli(['convert', path.join(root, 'models', 'cnn.onnx'), '-o', wnModel]);
      assert.equal(convert.code, 0, convert.err);
    });

    it('--data naming the gzip bomb: exit 1, one line', () => {
      const result = initWith(file('cli-bomb.idx.gz', bomb));
      assert.equal(result.code, 1);
      assertOneLineError(result, new RegExp(`cli-bomb\\.idx\\.gz: the gzip member inflates to ${16 + 200 * MB} bytes`));
    });

    it('--data naming a FIFO: exit 1 at once, one line, nothing waits for a writer', () => {
      const fifo = path.join(dir, 'fifo');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      const start = Date.now();
      const result = initWith(fifo);
      assert.equal(result.code, 1);
      assertOneLineError(result, /--data ".*fifo" is a named pipe \(FIFO\), not a regular file/);
      assert.ok(Date.now() - start < 20_000);
    });

    it('--data naming a folder', () => {
      const result = initWith(dir);
      assert.equal(result.code, 1);
      assertOneLineError(result, /--data ".*" is a folder, not a regular file/);
    });

    it('--data naming /dev/zero, a character device that never ends', () => {
      const result = initWith('/dev/zero');
      assert.equal(result.code, 1);
      assertOneLineError(result, /--data "\/dev\/zero" is a character device, not a regular file/);
    });
  });
});
