/** The inputs a caller feeds: graph inputs that are not initializers, with their declared types and dims. */
import { DataType } from '../onnx/enums';
import { WnError } from '../errors';
import type { Model } from './model';
import { declaredDims } from './value-types';

export interface InputSpec {
  name: string;
  type: DataType;
  /** Declared dims; null where symbolic or unknown. */
  dims: (number | null)[];
  /** Symbolic dim names (dim_param) where declared. */
  params: (string | null)[];
}

/** Graph inputs the caller must feed (initializers listed as inputs, IR < 4, are not). */
export function inputSpecs(model: Model): InputSpec[] {
  const g = model.graph;
  return g.inputs.filter((i) => !g.initializer(i.name ?? '')).map((i) => {
    const tensorType = i.type?.tensor_type;
    if (!tensorType) throw new WnError(`input "${i.name}" is not a tensor; only tensor inputs are supported`);
    const dims = tensorType.shape?.dim ?? [];
    return {
      name: i.name ?? '',
      type: (tensorType.elem_type ?? 0) as DataType,
      dims: declaredDims(dims),
      params: dims.map((d) => d.dim_param || null),
    };
  });
}

/** Concrete dims: declared values, else `dimValues[param]`, else 1. */
export function concreteDims(spec: InputSpec, dimValues: Record<string, number> = {}): number[] {
  return spec.dims.map((d, i) => d ?? dimValues[spec.params[i] ?? ''] ?? 1);
}
