/**
 * Sample arrays as model inputs: which array feeds which input, the first rows as the batch,
 * the shape checked against the input's declared dims (unit axes may differ: IDX images
 * [N, 28, 28] feed an input [N, 1, 28, 28]), values cast to the input's type.
 */
import type * as ort from 'onnxruntime-common';
import { DataType, dataTypeName } from '../onnx/enums';
import { WnError } from '../errors';
import { ortType, toTensor, type InputSpec } from '../runtime/feeds';
import type { Runtime } from '../runtime/session';
import { isFloatDtype, type NdArray } from './array';
import { elementCount } from '../tensor/values';

/** One --data item: the arrays of one file, and the input it was named for (if any). */
export interface SampleSource {
  source: string;
  input?: string;
  arrays: Map<string, NdArray>;
}

export interface InputArray { spec: InputSpec; array: NdArray; source: string }

/**
 * Matches arrays to the model's inputs: a named item feeds that input; an .npz feeds inputs by
 * array name; a single unnamed array feeds the only input that is left.
 */
export function assignInputs(specs: InputSpec[], sources: SampleSource[]): InputArray[] {
  const assigned = new Map<string, InputArray>();
  const put = (spec: InputSpec, array: NdArray, source: string) => {
    if (assigned.has(spec.name)) throw new WnError(`${source}: input "${spec.name}" is given data twice`);
    assigned.set(spec.name, { spec, array, source });
  };
  const inputNames = specs.map((s) => s.name).join(', ');
  for (const { source, input, arrays } of sources) {
    if (input !== undefined) {
      const spec = specs.find((s) => s.name === input);
      if (!spec) throw new WnError(`${source}: the model has no input "${input}" (inputs: ${inputNames})`);
      if (arrays.size !== 1) throw new WnError(`${source}: holds ${arrays.size} arrays; name one input per array file or pass the .npz without a name`);
      put(spec, [...arrays.values()][0], source);
      continue;
    }
    if (arrays.size === 1 && (arrays.has('') || specs.length === 1)) {
      const free = specs.filter((s) => !assigned.has(s.name));
      if (free.length !== 1) throw new WnError(`${source}: the model has inputs ${inputNames}; say which this file feeds with --data NAME=${source}`);
      put(free[0], [...arrays.values()][0], source);
      continue;
    }
    for (const [name, array] of arrays) {
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw new WnError(`${source}: array "${name}" matches no model input (inputs: ${inputNames})`);
      put(spec, array, `${source}:${name}`);
    }
  }
  const missing = specs.filter((s) => !assigned.has(s.name));
  if (missing.length) {
    throw new WnError(`no data for input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `"${s.name}"`).join(', ')}: pass --data NAME=FILE for each input`);
  }
  return specs.map((s) => assigned.get(s.name)!);
}

const withoutUnits = (dims: readonly number[]) => dims.filter((d) => d !== 1).join();

/** How many rows of the data form the batch: the input's fixed batch dim, else `wanted`, else all. */
export function batchRows({ spec, array, source }: InputArray, wanted?: number): number {
  const available = array.shape[0] ?? 0;
  const fixed = spec.dims[0];
  if (array.shape.length === 0 || available === 0) throw new WnError(`${source}: the data for input "${spec.name}" has no rows (shape [${array.shape}])`);
  if (fixed !== null && fixed !== undefined && wanted !== undefined && wanted !== fixed) {
    throw new WnError(`${source}: input "${spec.name}" has a fixed batch size of ${fixed}, --batch-size asks for ${wanted}; re-export the model with a dynamic batch axis`);
  }
  const rows = fixed ?? wanted ?? available;
  if (rows > available) throw new WnError(`${source}: ${rows} rows are needed for input "${spec.name}", the data has ${available}`);
  return rows;
}

/** The input's shape for `rows` rows of the array, or a one-line error naming both shapes. */
function inputShape({ spec, array, source }: InputArray, rows: number): number[] {
  const shape = [rows, ...array.shape.slice(1)];
  const declared = spec.dims;
  if (shape.length === declared.length && declared.every((d, i) => i === 0 || d === null || d === shape[i])) return shape;
  const rest = declared.slice(1);
  if (rest.every((d) => d !== null) && withoutUnits(rest as number[]) === withoutUnits(shape.slice(1))) return [rows, ...(rest as number[])];
  const expected = declared.map((d, i) => (d === null ? spec.params[i] ?? '?' : d));
  throw new WnError(`${source}: input "${spec.name}" expects shape [${expected}], the data has shape [${array.shape}]`);
}

/**
 * Rows of the array as the input's tensor: the first `rows`, or the rows listed (a shuffled
 * training batch). NaN/Inf and lossy float-to-integer casts are refused.
 */
export function inputTensor(runtime: Runtime, input: InputArray, rows: number | ArrayLike<number>): ort.Tensor {
  const { spec, array, source } = input;
  const indices = typeof rows === 'number' ? undefined : rows;
  const count = typeof rows === 'number' ? rows : rows.length;
  const shape = inputShape(input, count);
  const rowSize = elementCount(shape) / Math.max(count, 1);
  const target = ortType(spec.type);
  const floatTarget = target.startsWith('float');
  const values = indices ? gatherRows(array.data, indices, rowSize, target) : array.data;
  if (isFloatDtype(array.dtype)) {
    if (!floatTarget) throw new WnError(`${source}: input "${spec.name}" is ${dataTypeName(spec.type)}, the data is ${array.dtype}; pass integer data`);
    for (let i = 0; i < count * rowSize; i++) {
      if (!Number.isFinite(values[i] as number)) {
        const row = Math.floor(i / rowSize);
        throw new WnError(`${source}: row ${indices ? indices[row] : row} of the data for input "${spec.name}" holds ${values[i]}; clean the data first`);
      }
    }
  } else if (spec.type === DataType.BOOL && array.dtype !== 'bool') {
    throw new WnError(`${source}: input "${spec.name}" is BOOL, the data is ${array.dtype}`);
  }
  // rows gathered straight into the tensor's own array need no second conversion
  if (indices && (target === 'float32' || target === 'float64')) return new runtime.Tensor(target, values as Float32Array, shape);
  return toTensor(runtime, target, values, shape);
}

/**
 * The listed rows of row-major data: into the float array the tensor will hold when the input
 * is float32/float64 (the training batch path), else into an array like the source's.
 */
function gatherRows(data: NdArray['data'], indices: ArrayLike<number>, rowSize: number, target: ort.Tensor.Type): NdArray['data'] {
  const Ctor = (target === 'float32' ? Float32Array : target === 'float64' ? Float64Array : ArrayBuffer.isView(data) ? data.constructor : Array) as new (n: number) => { [i: number]: number | bigint | boolean; length: number };
  const out = new Ctor(indices.length * rowSize);
  const numeric = target === 'float32' || target === 'float64';
  for (let r = 0; r < indices.length; r++) {
    const from = indices[r] * rowSize;
    const to = r * rowSize;
    if (numeric) for (let k = 0; k < rowSize; k++) out[to + k] = Number(data[from + k]);
    else for (let k = 0; k < rowSize; k++) out[to + k] = data[from + k];
  }
  return out as NdArray['data'];
}
