/**
 * Element types and shapes of a graph's values, as the gradient rules need them: a rule must
 * know ranks and which axes are 1 to undo broadcasting, and element types to make constants.
 * Dims are numbers where fixed, null where they vary (the batch axis). Sources: what the model
 * declares (inputs, initializers, value_info, outputs) and, for everything else, a probe run
 * through ONNX Runtime (src/runtime/value-probe.ts). Here, low in the house, because the
 * probe, the gradient rules and the training graph all use them.
 */
import type { DimensionProto, ValueInfoProto } from '../onnx/proto';
import type { Model } from './model';
import { DataType } from '../onnx/enums';
import { toNumber } from '../onnx/int64';
import { tensorDims } from '../tensor/values';

export interface ValueType {
  type: DataType;
  dims: (number | null)[];
}

export type ValueTypes = ReadonlyMap<string, ValueType>;

/** Declared dims: the number where a dim_value is set, else null (symbolic or unknown). */
export function declaredDims(dims: readonly DimensionProto[] = []): (number | null)[] {
  return dims.map((d) => (Object.prototype.hasOwnProperty.call(d, 'dim_value') ? toNumber(d.dim_value) : null));
}

function fromInfo(info: ValueInfoProto): ValueType | undefined {
  const tensor = info.type?.tensor_type;
  if (!tensor?.shape) return undefined;
  return { type: (tensor.elem_type ?? 0) as DataType, dims: declaredDims(tensor.shape.dim) };
}

/** Types the model itself declares (initializers first: they are exact). */
export function declaredValueTypes(model: Model): Map<string, ValueType> {
  const g = model.graph;
  const types = new Map<string, ValueType>();
  for (const info of [...g.inputs, ...g.proto.value_info!, ...g.outputs]) {
    const t = fromInfo(info);
    if (t && info.name) types.set(info.name, t);
  }
  for (const t of g.initializers) types.set(t.name ?? '', { type: (t.data_type ?? 0) as DataType, dims: tensorDims(t) });
  return types;
}

/**
 * Merges observations of the same values made at different batch sizes: a dim that differs
 * between them varies with the batch (null).
 */
export function mergeObservations(observations: readonly Map<string, { type: DataType; dims: number[] }>[]): Map<string, ValueType> {
  const merged = new Map<string, ValueType>();
  for (const [name, first] of observations[0] ?? []) {
    const dims: (number | null)[] = [...first.dims];
    for (const other of observations.slice(1)) {
      const seen = other.get(name);
      if (!seen || seen.dims.length !== dims.length) continue;
      seen.dims.forEach((d, i) => { if (d !== dims[i]) dims[i] = null; });
    }
    merged.set(name, { type: first.type, dims });
  }
  return merged;
}
