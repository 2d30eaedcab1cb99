/** The ONNX test data's input_N.pb / output_N.pb files (single TensorProtos) as arrays and ORT tensors. */
import * as fs from 'node:fs';
import type * as ort from 'onnxruntime-common';
import { decodeTensor } from '../../src/onnx/codec';
import type { TensorProto } from '../../src/onnx/proto';
import { DataType, FLOAT_TYPES, dataTypeName } from '../../src/onnx/enums';
import { readFloats, readInts, tensorDims } from '../../src/tensor/values';
import { toTensor } from '../../src/runtime/tensors';
import { ortType } from '../../src/runtime/ort';
import type { Runtime } from '../../src/runtime/ort';
import type { NdArray } from './npy';

export function readTensorFile(file: string): TensorProto {
  return decodeTensor(fs.readFileSync(file), file);
}

/** A tensor's values as numbers (floats widened, integers as numbers) with its shape. */
export function tensorArray(t: TensorProto): NdArray {
  const type = (t.data_type ?? 0) as DataType;
  const shape = tensorDims(t);
  if (FLOAT_TYPES.has(type)) return { data: Float64Array.from(readFloats(t)), shape, dtype: 'float64' };
  if (type === DataType.INT64 || type === DataType.INT32) return { data: readInts(t), shape, dtype: 'int64' };
  throw new Error(`tensor "${t.name}": ${dataTypeName(type)} is not handled by the test helper`);
}

/** A TensorProto as an ONNX Runtime tensor of the same element type. */
export function ortTensor(runtime: Runtime, t: TensorProto): ort.Tensor {
  const { data, shape } = tensorArray(t);
  return toTensor(runtime, ortType((t.data_type ?? 0) as DataType), data, shape);
}
