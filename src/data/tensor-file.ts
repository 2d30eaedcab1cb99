/** A serialized ONNX TensorProto (.pb) as an array. */
import Long from 'long';
import { decodeTensor } from '../onnx/codec';
import { DataType, dataTypeName, FLOAT_TYPES } from '../onnx/enums';
import type { TensorProto } from '../onnx/proto';
import { elementBytes } from '../tensor/dtype';
import { readFloats, readInts } from '../tensor/values';
import { WnError } from '../errors';
import { checkedByteSize, type NdArray } from './array';

const DTYPES: Partial<Record<DataType, string>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.FLOAT16]: 'float16', [DataType.BFLOAT16]: 'bfloat16',
  [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8',
};

/** The decoded tensor, or undefined where the bytes are not a TensorProto with a data type (not this format). */
function decodeOrUndefined(bytes: Uint8Array, source: string): TensorProto | undefined {
  try {
    const tensor = decodeTensor(bytes, source);
    return tensor.data_type ? tensor : undefined;
  } catch {
    return undefined;
  }
}

/** The array, or undefined where the bytes are not an ONNX TensorProto at all. */
export function parseTensorFile(bytes: Uint8Array, source: string): NdArray | undefined {
  const tensor = decodeOrUndefined(bytes, source);
  if (!tensor) return undefined;
  const type = tensor.data_type as DataType;
  const dtype = DTYPES[type];
  if (!dtype) {
    throw new WnError(`${source}: tensor of ${dataTypeName(type)} is not supported as sample data; `
      + `save it as one of ${Object.values(DTYPES).join(', ')}`);
  }
  // int64 dims, checked exactly before any value is read (readFloats/readInts trust them)
  const dims = (tensor.dims ?? []).map((d) => BigInt(Long.fromValue(d).toString()));
  const itemBytes = elementBytes(type);
  const count = checkedByteSize({ source, format: 'TensorProto', dims, dtype, itemBytes }) / itemBytes;
  let data: NdArray['data'];
  try {
    data = FLOAT_TYPES.has(type) ? readFloats(tensor) : readInts(tensor);
  } catch (e) {
    throw e instanceof WnError ? new WnError(`${source}: ${e.message}`) : e;
  }
  if (data.length !== count) {
    throw new WnError(`${source}: the tensor holds ${data.length} values, its shape [${dims}] declares ${count}; the file is damaged`);
  }
  return { data, shape: dims.map(Number), dtype };
}
