/**
 * Sample arrays as model inputs: which array feeds which input, how many rows form the batch,
 * the shape checked against the input's declared dims (unit axes may differ: IDX images
 * [N, 28, 28] feed an input [N, 1, 28, 28]), and rows gathered in a given order. Plain arrays
 * only: src/runtime/tensors.ts makes them ONNX Runtime tensors.
 */
import { option, WnError } from '../errors';
import type { InputSpec } from '../ir/inputs';
import type { NdArray } from './array';

/** One file of sample data: its arrays, and the input it was named for (if any). */
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
      if (free.length !== 1) throw new WnError(`${source}: the model has inputs ${inputNames}; name the input this file feeds (${option('data')} NAME=${source})`);
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
    throw new WnError(`no data for input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `"${s.name}"`).join(', ')}: give ${option('data')} NAME=FILE for each input`);
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
    throw new WnError(`${source}: input "${spec.name}" has a fixed batch size of ${fixed}, ${option('batchSize')} asks for ${wanted}; re-export the model with a dynamic batch axis`);
  }
  const rows = fixed ?? wanted ?? available;
  if (rows > available) throw new WnError(`${source}: ${rows} rows are needed for input "${spec.name}", the data has ${available}`);
  return rows;
}

/** The input's shape for `rows` rows of the array, or a one-line error naming both shapes. */
export function inputShape({ spec, array, source }: InputArray, rows: number): number[] {
  const shape = [rows, ...array.shape.slice(1)];
  const declared = spec.dims;
  if (shape.length === declared.length && declared.every((d, i) => i === 0 || d === null || d === shape[i])) return shape;
  const rest = declared.slice(1);
  if (rest.every((d) => d !== null) && withoutUnits(rest as number[]) === withoutUnits(shape.slice(1))) return [rows, ...(rest as number[])];
  const expected = declared.map((d, i) => (d === null ? spec.params[i] ?? '?' : d));
  throw new WnError(`${source}: input "${spec.name}" expects shape [${expected}], the data has shape [${array.shape}]`);
}

/**
 * The listed rows of row-major data: into a float array of `floatType` (the training batch
 * path: the tensor's own array), else into an array like the source's.
 */
export function gatherRows(data: NdArray['data'], indices: ArrayLike<number>, rowSize: number, floatType?: 'float32' | 'float64'): NdArray['data'] {
  if (floatType && isNumberArray(data)) {
    // TypedArray.set converts each value as the loop below does, natively: a tenth of the time for image bytes
    const out = floatType === 'float32' ? new Float32Array(indices.length * rowSize) : new Float64Array(indices.length * rowSize);
    for (let r = 0; r < indices.length; r++) out.set(data.subarray(indices[r] * rowSize, (indices[r] + 1) * rowSize), r * rowSize);
    return out;
  }
  const Ctor = (floatType === 'float32' ? Float32Array : floatType === 'float64' ? Float64Array
    : ArrayBuffer.isView(data) ? data.constructor : Array) as new (n: number) => { [i: number]: number | bigint | boolean; length: number };
  const out = new Ctor(indices.length * rowSize);
  for (let r = 0; r < indices.length; r++) {
    const from = indices[r] * rowSize;
    const to = r * rowSize;
    if (floatType) for (let k = 0; k < rowSize; k++) out[to + k] = Number(data[from + k]);
    else for (let k = 0; k < rowSize; k++) out[to + k] = data[from + k];
  }
  return out as NdArray['data'];
}

type NumberArray = Float32Array | Float64Array | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

function isNumberArray(data: NdArray['data']): data is NumberArray {
  return ArrayBuffer.isView(data) && !(data instanceof BigInt64Array || data instanceof BigUint64Array);
}
