/** A serialized ONNX TensorProto (.pb) as an array. */
import { decodeTensor } from '../onnx/codec';
import { DataType, dataTypeName, FLOAT_TYPES } from '../onnx/enums';
import { readFloats, readInts, tensorDims } from '../tensor/values';
import { WnError } from '../errors';
import type { NdArray } from './array';

const DTYPES: Partial<Record<DataType, string>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.FLOAT16]: 'float16', [DataType.BFLOAT16]: 'bfloat16',
  [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8',
};

export function parseTensorFile(bytes: Uint8Array, source: string): NdArray {
  const tensor = decodeTensor(bytes, source);
  const type = (tensor.data_type ?? 0) as DataType;
  const shape = tensorDims(tensor);
  const dtype = DTYPES[type];
  if (!dtype) throw new WnError(`${source}: tensor of ${dataTypeName(type)} is not supported as sample data`);
  return { data: FLOAT_TYPES.has(type) ? readFloats(tensor) : readInts(tensor), shape, dtype };
}
