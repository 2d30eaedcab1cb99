/**
 * IDX files, the format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): a 4-byte magic
 * (0, 0, element type, rank), the dims as big-endian int32, then big-endian values.
 */
import { checkedByteSize, type NdArray } from './array';
import { WnError } from '../errors';

type TypedArrayOf = Int16ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;

interface IdxType {
  dtype: string;
  bytes: number;
  /** Multi-byte values (big-endian) are read into a typed array; 1-byte values are the file's bytes. */
  wide?: { Array: TypedArrayOf; read: (v: DataView, at: number) => number };
}

const IDX_TYPES: Record<number, IdxType> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2, wide: { Array: Int16Array, read: (v, at) => v.getInt16(at) } },
  0x0c: { dtype: 'int32', bytes: 4, wide: { Array: Int32Array, read: (v, at) => v.getInt32(at) } },
  0x0d: { dtype: 'float32', bytes: 4, wide: { Array: Float32Array, read: (v, at) => v.getFloat32(at) } },
  0x0e: { dtype: 'float64', bytes: 8, wide: { Array: Float64Array, read: (v, at) => v.getFloat64(at) } },
};

export function isIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] in IDX_TYPES && bytes[3] > 0;
}

interface IdxHeader { type: IdxType; shape: number[]; headerBytes: number; dataBytes: number }

/**
 * The header of the IDX content that `head` starts (see isIdx), with its data size checked;
 * undefined while `head` holds only part of the header.
 */
export function readIdxHeader(head: Uint8Array, source: string): IdxHeader | undefined {
  const type = IDX_TYPES[head[2]];
  const rank = head[3];
  const headerBytes = 4 + 4 * rank;
  if (head.length < headerBytes) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  // dims are int32: a negative one is refused by checkedByteSize, never wrapped to a large size
  const dims = Array.from({ length: rank }, (_, i) => BigInt(view.getInt32(4 + 4 * i)));
  const dataBytes = checkedByteSize({ source, format: 'IDX', dims, dtype: type.dtype, itemBytes: type.bytes });
  return { type, shape: dims.map(Number), headerBytes, dataBytes };
}

export function parseIdx(bytes: Uint8Array, source: string): NdArray {
  const header = readIdxHeader(bytes, source);
  if (!header) throw new WnError(`${source}: the IDX header is truncated (the file has ${bytes.length} bytes); the file is damaged`);
  const { type, shape, headerBytes, dataBytes } = header;
  if (bytes.length !== headerBytes + dataBytes) {
    throw new WnError(`${source}: the IDX file has ${bytes.length - headerBytes} data bytes, its shape [${shape}] of ${type.dtype} `
      + `needs ${dataBytes}; the file is truncated or damaged`);
  }
  const data = bytes.subarray(headerBytes);
  const { wide } = type;
  if (!wide) {
    return { data: type.dtype === 'uint8' ? data : new Int8Array(data.buffer, data.byteOffset, data.length), shape, dtype: type.dtype };
  }
  const values = new wide.Array(dataBytes / type.bytes);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = wide.read(view, i * type.bytes);
  return { data: values, shape, dtype: type.dtype };
}
