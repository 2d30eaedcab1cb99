/**
 * .npy arrays (numpy.org/doc/stable/reference/generated/numpy.lib.format.html): magic
 * "\x93NUMPY", version, header length, a Python dict literal ('descr', 'fortran_order',
 * 'shape'), then the values. Parsed here rather than by npyjs: the header has to be read and
 * checked first anyway (a hostile one can promise any size), and npyjs reads big-endian values
 * as little-endian and fails on data that starts at an offset its typed arrays cannot view.
 * float16 is widened to float32 (dtype stays 'float16'), int64 is a BigInt64Array, bool 0/1 bytes.
 */
import { WnError } from '../errors';
import { halfToFloat } from '../tensor/dtype';
import { checkedByteSize, type NdArray } from './array';

interface NpyType { dtype: string; bytes: number; values: (b: ArrayBuffer) => NdArray['data'] }

const NPY_TYPES: Record<string, NpyType> = {
  f2: { dtype: 'float16', bytes: 2, values: (b) => Float32Array.from(new Uint16Array(b), halfToFloat) },
  f4: { dtype: 'float32', bytes: 4, values: (b) => new Float32Array(b) },
  f8: { dtype: 'float64', bytes: 8, values: (b) => new Float64Array(b) },
  i1: { dtype: 'int8', bytes: 1, values: (b) => new Int8Array(b) },
  i2: { dtype: 'int16', bytes: 2, values: (b) => new Int16Array(b) },
  i4: { dtype: 'int32', bytes: 4, values: (b) => new Int32Array(b) },
  i8: { dtype: 'int64', bytes: 8, values: (b) => new BigInt64Array(b) },
  u1: { dtype: 'uint8', bytes: 1, values: (b) => new Uint8Array(b) },
  u2: { dtype: 'uint16', bytes: 2, values: (b) => new Uint16Array(b) },
  u4: { dtype: 'uint32', bytes: 4, values: (b) => new Uint32Array(b) },
  u8: { dtype: 'uint64', bytes: 8, values: (b) => new BigUint64Array(b) },
  b1: { dtype: 'bool', bytes: 1, values: (b) => new Uint8Array(b).map((v) => (v ? 1 : 0)) },
};

/** numpy writes headers of a few hundred bytes (and reads none over 10,000 by default). */
const MAX_HEADER_BYTES = 1 << 16;

export interface NpyHeader {
  type: NpyType;
  bigEndian: boolean;
  shape: number[];
  /** Where the values start, and how many bytes of them the header declares. */
  dataOffset: number;
  dataBytes: number;
}

/**
 * The header of the .npy content that `head` starts (its magic already seen), checked: a dict
 * of a plain numeric array in C order whose size fits (checkedByteSize). Undefined while
 * `head` holds only part of the header.
 */
export function readNpyHeader(head: Uint8Array, source: string): NpyHeader | undefined {
  if (head.length < 8) return undefined;
  const major = head[6];
  if (major < 1 || major > 3) {
    throw new WnError(`${source}: .npy format version ${major}.${head[7]} is not one numpy writes (1.0 to 3.0); the file is damaged`);
  }
  const lengthBytes = major === 1 ? 2 : 4;
  if (head.length < 8 + lengthBytes) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerBytes = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new WnError(`${source}: its .npy header says it is ${headerBytes} bytes long, numpy writes a few hundred; `
      + 'the file is damaged or not an .npy file');
  }
  const dataOffset = 8 + lengthBytes + headerBytes;
  if (head.length < dataOffset) return undefined;
  const header = head.subarray(8 + lengthBytes, dataOffset);
  // versions 1 and 2 are latin1 (one character a byte), version 3 UTF-8
  const text = (major === 3 ? new TextDecoder().decode(header) : Array.from(header, (b) => String.fromCharCode(b)).join('')).trim();
  const malformed = (what: string) =>
    new WnError(`${source}: the .npy header ${what} (${text.slice(0, 200)}); the file is damaged or not an .npy file`);
  const field = (key: string, value: string) => new RegExp(`'${key}'\\s*:\\s*${value}`).exec(text)?.[1];
  const descr = field('descr', "'([^']*)'");
  const fortranOrder = field('fortran_order', '(True|False)\\b');
  const shapeText = field('shape', '\\(([^()]*)\\)');
  if (!text.startsWith('{') || !text.endsWith('}') || descr === undefined || fortranOrder === undefined || shapeText === undefined) {
    throw malformed("is not a dict with 'descr', 'fortran_order' and 'shape' of a plain array");
  }
  const [, order, code] = /^([<>|=]?)([\s\S]*)$/.exec(descr)!;
  const type = Object.hasOwn(NPY_TYPES, code) ? NPY_TYPES[code] : undefined;
  if (!type) {
    throw new WnError(`${source}: dtype ${descr} is not a numeric type wn-onnx reads; save the array as float32, an integer type or bool`);
  }
  if (fortranOrder === 'True') throw new WnError(`${source}: Fortran-ordered arrays are not supported; save it with np.ascontiguousarray`);
  // "()" is a scalar, "(6,)" one dim
  const items = shapeText.trim() === '' ? [] : shapeText.split(',').map((s) => s.trim());
  if (items.length > 1 && items[items.length - 1] === '') items.pop();
  const bad = items.find((s) => !/^[+-]?\d+$/.test(s));
  if (bad !== undefined) throw malformed(`has shape (${shapeText}), and "${bad}" is not a whole number`);
  const dims = items.map(BigInt);
  const dataBytes = checkedByteSize({ source, format: '.npy', dims, dtype: type.dtype, itemBytes: type.bytes });
  return { type, bigEndian: order === '>', shape: dims.map(Number), dataOffset, dataBytes };
}

export function parseNpy(bytes: Uint8Array, source: string): NdArray {
  const header = readNpyHeader(bytes, source);
  if (!header) throw new WnError(`${source}: the .npy header is truncated (the file has ${bytes.length} bytes); the file is damaged`);
  const { type, bigEndian, shape, dataOffset, dataBytes } = header;
  const held = bytes.length - dataOffset;
  if (held !== dataBytes) {
    throw new WnError(`${source}: its .npy header declares shape [${shape}] of ${type.dtype}, ${dataBytes} bytes of data, `
      + `but the file holds ${held}; the file is truncated or damaged`);
  }
  // a copy of their own (aligned for the typed array, free of the rest of the file)
  const values = new Uint8Array(bytes.subarray(dataOffset));
  if (bigEndian) swapBytes(values, type.bytes);
  return { data: type.values(values.buffer), shape, dtype: type.dtype };
}

/** Reverses the bytes of each `size`-byte value in place (big-endian to little-endian). */
function swapBytes(values: Uint8Array, size: number): void {
  for (let i = 0; i < values.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) [values[a], values[b]] = [values[b], values[a]];
  }
}
