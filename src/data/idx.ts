/**
 * IDX files, the format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): a 4-byte magic
 * (0, 0, element type, rank), the dims as big-endian int32, then big-endian values.
 */
import { WnError } from '../errors';
import { elementCount } from '../tensor/values';
import type { NdArray } from './array';

const IDX_TYPES: Record<number, { dtype: string; bytes: number; read: (v: DataView, at: number) => number }> = {
  0x08: { dtype: 'uint8', bytes: 1, read: (v, at) => v.getUint8(at) },
  0x09: { dtype: 'int8', bytes: 1, read: (v, at) => v.getInt8(at) },
  0x0b: { dtype: 'int16', bytes: 2, read: (v, at) => v.getInt16(at) },
  0x0c: { dtype: 'int32', bytes: 4, read: (v, at) => v.getInt32(at) },
  0x0d: { dtype: 'float32', bytes: 4, read: (v, at) => v.getFloat32(at) },
  0x0e: { dtype: 'float64', bytes: 8, read: (v, at) => v.getFloat64(at) },
};

export function isIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] in IDX_TYPES && bytes[3] > 0;
}

export function parseIdx(bytes: Uint8Array, source: string): NdArray {
  const type = IDX_TYPES[bytes[2]];
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = 4 + 4 * rank;
  if (bytes.length < header) throw new WnError(`${source}: IDX header is truncated`);
  const shape = Array.from({ length: rank }, (_, i) => view.getInt32(4 + 4 * i));
  const count = elementCount(shape);
  if (bytes.length !== header + count * type.bytes) {
    throw new WnError(`${source}: IDX file has ${bytes.length - header} data bytes, its shape [${shape}] of ${type.dtype} needs ${count * type.bytes}`);
  }
  if (type.bytes === 1) {
    const data = bytes.subarray(header);
    return { data: type.dtype === 'uint8' ? data : new Int8Array(data.buffer, data.byteOffset, data.length), shape, dtype: type.dtype };
  }
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = type.read(view, header + i * type.bytes);
  return { data, shape, dtype: type.dtype };
}
