/** Model inputs as ONNX Runtime tensors: declared input specs, seeded random feeds, data casts. */
import type * as ort from 'onnxruntime-common';
import { DataType, dataTypeName } from '../onnx/enums';
import type { Model } from '../ir/model';
import { toNumber } from '../ir/int64';
import { WnError } from '../errors';
import { floatToHalf } from '../tensor/dtype';
import type { Runtime } from './session';

export interface InputSpec {
  name: string;
  type: DataType;
  /** Declared dims; null where symbolic or unknown. */
  dims: (number | null)[];
  /** Symbolic dim names (dim_param) where declared. */
  params: (string | null)[];
}

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

/** Graph inputs the caller must feed (initializers listed as inputs are not). */
export function inputSpecs(model: Model): InputSpec[] {
  const g = model.graph;
  return g.inputs.filter((i) => !g.initializer(i.name ?? '')).map((i) => {
    const tensorType = i.type?.tensor_type;
    if (!tensorType) throw new WnError(`input "${i.name}" is not a tensor; only tensor inputs are supported`);
    const dims = tensorType.shape?.dim ?? [];
    return {
      name: i.name ?? '',
      type: (tensorType.elem_type ?? 0) as DataType,
      dims: dims.map((d) => (Object.prototype.hasOwnProperty.call(d, 'dim_value') ? toNumber(d.dim_value) : null)),
      params: dims.map((d) => d.dim_param || null),
    };
  });
}

/** A small seeded generator (mulberry32): the same seed gives the same feeds. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Concrete dims: declared values, else `dimValues[param]`, else 1. */
export function concreteDims(spec: InputSpec, dimValues: Record<string, number> = {}): number[] {
  return spec.dims.map((d, i) => d ?? dimValues[spec.params[i] ?? ''] ?? 1);
}

/**
 * Random feeds: floats uniform in [-1, 1), integers and booleans 0 (a safe index for
 * embeddings and gathers).
 */
export function randomFeeds(runtime: Runtime, specs: InputSpec[], seed = 0, dimValues: Record<string, number> = {}): Record<string, ort.Tensor> {
  const random = seededRandom(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of specs) {
    const dims = concreteDims(spec, dimValues);
    const count = dims.reduce((n, d) => n * d, 1);
    const isFloat = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(spec.type);
    const values = Float64Array.from({ length: count }, () => (isFloat ? random() * 2 - 1 : 0));
    feeds[spec.name] = toTensor(runtime, ortType(spec.type), values, dims);
  }
  return feeds;
}

/**
 * Builds an ORT tensor of `type` from the first product(dims) values of any numeric array,
 * converting element by element.
 */
export function toTensor(runtime: Runtime, type: ort.Tensor.Type, values: ArrayLike<number | bigint | boolean>, dims: number[]): ort.Tensor {
  const n = dims.reduce((count, d) => count * d, 1);
  if (values.length < n) throw new WnError(`internal: ${values.length} values for a tensor of shape [${dims}]`);
  const num = (i: number) => Number(values[i]);
  switch (type) {
    case 'float32': return new runtime.Tensor(type, Float32Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'float64': return new runtime.Tensor(type, Float64Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'float16': return new runtime.Tensor(type, Uint16Array.from({ length: n }, (_, i) => floatToHalf(num(i))), dims);
    case 'int8': return new runtime.Tensor(type, Int8Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'uint8': return new runtime.Tensor(type, Uint8Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'int16': return new runtime.Tensor(type, Int16Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'uint16': return new runtime.Tensor(type, Uint16Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'int32': return new runtime.Tensor(type, Int32Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'uint32': return new runtime.Tensor(type, Uint32Array.from({ length: n }, (_, i) => num(i)), dims);
    case 'int64': return new runtime.Tensor(type, BigInt64Array.from({ length: n }, (_, i) => BigInt(Math.trunc(num(i)))), dims);
    case 'uint64': return new runtime.Tensor(type, BigUint64Array.from({ length: n }, (_, i) => BigInt(Math.trunc(num(i)))), dims);
    case 'bool': return new runtime.Tensor(type, Uint8Array.from({ length: n }, (_, i) => (num(i) ? 1 : 0)), dims);
    default: throw new WnError(`cannot make an input tensor of type ${type}`);
  }
}
