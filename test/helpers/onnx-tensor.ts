/**
 * Test-local TensorProto decoding (the ONNX test data's input_N.pb / output_N.pb files are single
 * serialized TensorProtos; src/onnx/codec.ts only exports a ModelProto decoder). Uses protobufjs
 * with the repository's own schema text, so the decoded messages have the same shape as the
 * tensors inside a decoded model.
 */
import * as fs from 'node:fs';
import * as protobuf from 'protobufjs';
import Long from 'long';
import type * as ort from 'onnxruntime-common';
import { ONNX_PROTO } from '../../src/onnx/onnx.proto';
import type { TensorProto } from '../../src/onnx/proto';
import { DataType, FLOAT_TYPES, dataTypeName } from '../../src/onnx/enums';
import { readFloats, readInts, tensorDims } from '../../src/tensor/values';
import { ortType, toTensor } from '../../src/runtime/feeds';
import type { Runtime } from '../../src/runtime/session';
import type { NdArray } from './npy';

protobuf.util.Long = Long;
protobuf.configure();

const TensorType = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.TensorProto');

export function decodeTensor(bytes: Uint8Array): TensorProto {
  const reader = protobuf.Reader.create(bytes);
  return TensorType.decode(reader) as TensorProto;
}

export function readTensorFile(file: string): TensorProto {
  return decodeTensor(fs.readFileSync(file));
}

/** A tensor's values as numbers (floats widened, integers as numbers) with its shape. */
export function tensorArray(t: TensorProto): NdArray {
  const type = (t.data_type ?? 0) as DataType;
  const shape = tensorDims(t);
  if (FLOAT_TYPES.has(type)) return { data: Float64Array.from(readFloats(t)), shape };
  if (type === DataType.INT64 || type === DataType.INT32) return { data: readInts(t), shape };
  throw new Error(`tensor "${t.name}": ${dataTypeName(type)} is not handled by the test helper`);
}

/** A TensorProto as an ONNX Runtime tensor of the same element type. */
export function ortTensor(runtime: Runtime, t: TensorProto): ort.Tensor {
  const { data, shape } = tensorArray(t);
  return toTensor(runtime, ortType((t.data_type ?? 0) as DataType), data, shape);
}
