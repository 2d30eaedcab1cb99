/**
 * Sample data for init and training, from the bytes of a file in any of the formats wn-onnx
 * reads, told apart by their content (not their name):
 *   .npy      one array                 magic "\x93NUMPY"
 *   .npz      arrays by name            a zip archive (np.savez, np.savez_compressed)
 *   IDX       one array (MNIST files)   magic 0 0 type rank; gzipped or not
 *   .pb       one ONNX TensorProto      anything else that decodes as one
 *
 * Compressed content is never inflated on trust: a 9 MB gzip can inflate to gigabytes. Its
 * own header (IDX, .npy) is inflated first and the size it declares is checked against the size
 * the container records; then the rest is inflated, in pieces, into a buffer of exactly that
 * size, and inflation stops as soon as the output would run past it.
 */
import { Gunzip, Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { WnError } from '../errors';
import { MAX_SAMPLE_BYTES, tooLarge, type NdArray } from './array';
import { isIdx, parseIdx, readIdxHeader } from './idx';
import { parseNpy, readNpyHeader } from './npy';
import { parseTensorFile } from './tensor-file';

const startsWith = (bytes: Uint8Array, magic: number[]) => magic.every((b, i) => bytes[i] === b);
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const GZIP_MAGIC = [0x1f, 0x8b];
/** A gzip member's fixed header (10 bytes) and trailer (CRC32 and ISIZE, 8 bytes). */
const GZIP_FRAME_BYTES = 18;

/** The arrays in a file: one unnamed array (key '') or, for .npz, arrays by name. */
export function readSampleData(bytes: Uint8Array, source: string): Map<string, NdArray> {
  if (bytes.length === 0) throw new WnError(`${source}: the file is empty`);
  return readContent(startsWith(bytes, GZIP_MAGIC) ? gunzip(bytes, source) : bytes, source);
}

/** Uncompressed content (a gzip inside the gzip is not read: it could nest without end). */
function readContent(bytes: Uint8Array, source: string): Map<string, NdArray> {
  if (startsWith(bytes, NPY_MAGIC)) return new Map([['', parseNpy(bytes, source)]]);
  if (startsWith(bytes, ZIP_MAGIC)) return parseNpz(bytes, source);
  if (isIdx(bytes)) return new Map([['', parseIdx(bytes, source)]]);
  const tensor = parseTensorFile(bytes, source);
  if (!tensor) {
    throw new WnError(`${source}: not a sample-data file wn-onnx reads (.npy, .npz, IDX, gzipped IDX or .npy, or ONNX TensorProto .pb)`);
  }
  return new Map([['', tensor]]);
}

/** The size the header at the start of some content declares for all of it, and whose header it is. */
interface Declared { bytes: number; format: 'IDX' | '.npy' }

/**
 * What the start of some content says about its size: Declared; 'partial' while `head` holds
 * only part of the header; 'none' for content without such a header.
 */
function declaredSize(head: Uint8Array, source: string): Declared | 'partial' | 'none' {
  if (head.length < NPY_MAGIC.length) return 'partial';
  if (startsWith(head, NPY_MAGIC)) {
    const npy = readNpyHeader(head, source);
    return npy ? { bytes: npy.dataOffset + npy.dataBytes, format: '.npy' } : 'partial';
  }
  if (isIdx(head)) {
    const idx = readIdxHeader(head, source);
    return idx ? { bytes: idx.headerBytes + idx.dataBytes, format: 'IDX' } : 'partial';
  }
  return 'none';
}

/**
 * Inflated output collected into a buffer of exactly the size its content declares. The first
 * chunks are held until `sizeOf` can tell that size from them (it returns undefined until then;
 * it may throw to refuse the content); output past that size, or ending short of it, is refused.
 */
class ExactOutput {
  private head: Uint8Array = new Uint8Array(0);
  private out: Uint8Array | undefined;
  private written = 0;
  private done = false;

  constructor(
    private readonly sizeOf: (head: Uint8Array, complete: boolean) => number | undefined,
    /** Names the content in messages: `data.gz: the gzip content`. */
    private readonly what: string,
  ) {}

  push(chunk: Uint8Array, final: boolean): void {
    if (this.out) this.write(chunk);
    else {
      this.head = this.head.length ? concat(this.head, chunk) : chunk;
      const size = this.sizeOf(this.head, final);
      if (size !== undefined) {
        this.out = new Uint8Array(size);
        this.write(this.head);
        this.head = new Uint8Array(0);
      }
    }
    if (final) {
      this.done = true;
      const declared = this.out!.length;
      if (this.written !== declared) {
        throw new WnError(`${this.what} ends after ${this.written} of the ${declared} bytes declared for it; `
          + 'the file is truncated or damaged');
      }
    }
  }

  /** All of the output, once the stream has ended. */
  result(): Uint8Array {
    if (!this.done) throw new WnError(`${this.what} ends early (its compressed data is cut short); the file is truncated or damaged`);
    return this.out!;
  }

  private write(chunk: Uint8Array): void {
    const out = this.out!;
    if (this.written + chunk.length > out.length) {
      throw new WnError(`${this.what} inflates to more than the ${out.length} bytes declared for it; the file is damaged or forged`);
    }
    out.set(chunk, this.written);
    this.written += chunk.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/**
 * Compressed bytes go to a stream in pieces: deflate inflates at most ~1032-fold, so no one
 * step makes more than ~33 MB however the file was made. The first pieces are small, as the
 * header inside (what decides whether to go on) needs only the first few bytes.
 */
const FIRST_PIECE_BYTES = 1024;
const PIECE_BYTES = 32 * 1024;

/** Pushes all of `bytes` to a stream in pieces; the stream's own errors (damaged data) become `damaged`'s message. */
function pushInPieces(stream: { push(chunk: Uint8Array, final: boolean): void }, bytes: Uint8Array, damaged: (e: Error) => WnError) {
  try {
    for (let at = 0, piece = FIRST_PIECE_BYTES; at < bytes.length; at += piece, piece = Math.min(2 * piece, PIECE_BYTES)) {
      stream.push(bytes.subarray(at, at + piece), at + piece >= bytes.length);
    }
  } catch (e) {
    throw e instanceof WnError ? e : damaged(e as Error);
  }
}

/**
 * The content of a single-member gzip file. Its trailer records the content's size (ISIZE,
 * modulo 2^32); an IDX or .npy header inside must declare that same size before the rest is
 * inflated, and other content is held to it and to MAX_SAMPLE_BYTES.
 */
function gunzip(bytes: Uint8Array, source: string): Uint8Array {
  const damaged = (detail: string) =>
    new WnError(`${source}: gzip data is damaged or truncated (${detail}); download or compress the file again`);
  if (bytes.length < GZIP_FRAME_BYTES) throw damaged(`${bytes.length} bytes, shorter than a gzip header and trailer`);
  const recorded = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 4, true);
  const mismatch = (whose: string, size: number) => new WnError(`${source}: the gzip member inflates to ${recorded} bytes `
    + `(its trailer says) but ${whose} ${size}; the file is truncated, damaged or forged`);
  const what = `${source}: the gzip content`;
  const output = new ExactOutput((head, complete) => {
    const declared = declaredSize(head, source);
    if (declared === 'partial') {
      if (complete && head.length !== recorded) throw mismatch('it holds', head.length);
      return complete ? head.length : undefined;
    }
    if (declared === 'none') {
      if (recorded > MAX_SAMPLE_BYTES) throw tooLarge(`${what} is, its gzip trailer says,`, recorded);
      return recorded;
    }
    // MAX_SAMPLE_BYTES < 2^32, so the size modulo 2^32 is the size
    if (declared.bytes !== recorded) throw mismatch(`its ${declared.format} header declares`, declared.bytes);
    return declared.bytes;
  }, what);
  const stream = new Gunzip((chunk, final) => output.push(chunk, final));
  stream.onmember = () => {
    throw new WnError(`${source}: holds more than one gzip member (concatenated gzip files, or data after the end); `
      + 'decompress it with gunzip and pass the result');
  };
  pushInPieces(stream, bytes, (e) => damaged(e.message));
  return output.result();
}

/** Zip compression methods np.savez (stored) and np.savez_compressed (deflate) write. */
const ZIP_STORED = 0;
const ZIP_DEFLATE = 8;

/**
 * The .npy entries of an .npz archive, each inflated only as far as its own .npy header
 * declares, which must agree with the size the archive records for it; all of them together
 * are held to MAX_SAMPLE_BYTES. Other entries are skipped unread. Entry names are only names
 * here (nothing is written), and messages quote them.
 */
function parseNpz(bytes: Uint8Array, source: string): Map<string, NdArray> {
  const entries: { name: string; where: string; output: ExactOutput }[] = [];
  let total = 0;
  const unzip = new Unzip((file: UnzipFile) => {
    if (!file.name.endsWith('.npy')) return;
    const where = `${source}: entry "${file.name}"`;
    if (file.compression !== ZIP_STORED && file.compression !== ZIP_DEFLATE) {
      throw new WnError(`${where} is compressed with zip method ${file.compression}, which wn-onnx does not read; `
        + 'save it with np.savez or np.savez_compressed');
    }
    const recorded = file.originalSize;
    if (recorded !== undefined && recorded > MAX_SAMPLE_BYTES) throw tooLarge(`${where} is, the archive says,`, recorded);
    const output = new ExactOutput((head, complete) => {
      const declared = declaredSize(head, where);
      if (declared === 'partial') return complete ? head.length : undefined;
      if (declared === 'none' || declared.format !== '.npy') {
        throw new WnError(`${where} is not an .npy array; save the archive with np.savez`);
      }
      if (recorded !== undefined && declared.bytes !== recorded) {
        throw new WnError(`${where} is ${recorded} bytes, the archive says, but its .npy header declares ${declared.bytes}; `
          + 'the archive is damaged or forged');
      }
      total += declared.bytes;
      if (total > MAX_SAMPLE_BYTES) throw tooLarge(`${source}: the arrays of the archive declare, together,`, total);
      return declared.bytes;
    }, where);
    file.ondata = (error, chunk, final) => {
      if (error) throw error instanceof WnError ? error : new WnError(`${where} is damaged (${error.message}); save the archive again`);
      output.push(chunk, final);
    };
    entries.push({ name: file.name, where, output });
    file.start();
  });
  unzip.register(UnzipInflate);
  pushInPieces(unzip, bytes, (e) => new WnError(`${source}: not a valid .npz archive (${e.message}); save it again with np.savez`));
  const arrays = new Map<string, NdArray>();
  for (const { name, where, output } of entries) arrays.set(name.slice(0, -'.npy'.length), parseNpy(output.result(), where));
  if (!arrays.size) throw new WnError(`${source}: the .npz archive holds no .npy arrays`);
  return arrays;
}
