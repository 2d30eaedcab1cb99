/** The onnxruntime package as this project sees it: the part it uses, execution providers, element types. */
import type * as ort from 'onnxruntime-common';
import { DataType, dataTypeName } from '../onnx/enums';
import { WnError } from '../errors';

/** The part of an onnxruntime package this project uses (onnxruntime-node and onnxruntime-web both have it). */
export interface Runtime {
  InferenceSession: typeof ort.InferenceSession;
  Tensor: typeof ort.Tensor;
  /**
   * Frees unreachable memory now (Node: a full garbage collection). The trainer calls it after
   * steps of large models: each step's outputs replace the last step's state, and until the
   * collector runs both stay in memory.
   */
  collectGarbage?: () => void;
}

/** 'wasm': onnxruntime-web's WebAssembly provider (a browser, or Node without native binaries); 'cuda': onnxruntime-node's. */
export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda' | 'wasm';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda', 'wasm'];

const ORT_TYPES: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.FLOAT16]: 'float16',
  [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8', [DataType.INT16]: 'int16', [DataType.UINT16]: 'uint16',
  [DataType.INT32]: 'int32', [DataType.UINT32]: 'uint32', [DataType.INT64]: 'int64', [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
};

/** The ONNX element type of an ORT tensor type. */
export function dataTypeOf(type: ort.Tensor.Type): DataType {
  const entry = Object.entries(ORT_TYPES).find(([, t]) => t === type);
  if (!entry) throw new WnError(`internal: no ONNX type for ONNX Runtime type ${type}`);
  return Number(entry[0]) as DataType;
}

export function ortType(type: DataType): ort.Tensor.Type {
  const t = ORT_TYPES[type];
  if (!t) throw new WnError(`inputs of type ${dataTypeName(type)} are not supported`);
  return t;
}
