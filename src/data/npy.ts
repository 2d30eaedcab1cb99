/** .npy arrays, parsed by npyjs (float16 widened to float32 by it, int64 as BigInt64Array). */
import { parse } from 'npyjs';
import { WnError } from '../errors';
import type { NdArray } from './array';

const NPY_DTYPES: Record<string, string> = {
  f2: 'float16', f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64', b1: 'bool',
};

export function parseNpy(bytes: Uint8Array, source: string): NdArray {
  let array;
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    array = parse(buffer);
  } catch (e) {
    throw new WnError(`${source}: not a valid .npy file (${(e as Error).message})`);
  }
  if (array.fortranOrder) throw new WnError(`${source}: Fortran-ordered arrays are not supported; save it with np.ascontiguousarray`);
  const dtype = NPY_DTYPES[array.dtype.replace(/^[<>|=]/, '')];
  if (!dtype) throw new WnError(`${source}: dtype ${array.dtype} is not a numeric type wn-onnx reads`);
  return { data: array.data as unknown as NdArray['data'], shape: array.shape, dtype };
}
