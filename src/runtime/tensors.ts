/** Model inputs as ONNX Runtime tensors: element types, seeded random feeds, sample data as a batch. */
import type * as ort from 'onnxruntime-common';
import { DataType, dataTypeName } from '../onnx/enums';
import { WnError } from '../errors';
import { elementBytes, floatToHalf } from '../tensor/dtype';
import { seededRandom } from '../tensor/random';
import { elementCount } from '../tensor/values';
import { concreteDims, type InputSpec } from '../ir/inputs';
import { isFloatDtype } from '../data/array';
import { gatherRows, inputShape, type InputArray } from '../data/batch';
import { ortType, type Runtime } from './ort';

/**
 * Random feeds: floats uniform in [-1, 1), integers and booleans 0 (a safe index for
 * embeddings and gathers). Symbolic dims are `dimValues[name]`, else 1; a name no input has
 * is refused, and so are inputs that would take more than `maxBytes` (checked before
 * anything is allocated: the caller knows how much memory there is).
 */
export function randomFeeds(
  runtime: Runtime, specs: InputSpec[], seed = 0, dimValues: Record<string, number> = {}, maxBytes = Infinity,
): Record<string, ort.Tensor> {
  const symbolic = [...new Set(specs.flatMap((s) => s.params).filter((p): p is string => !!p))];
  for (const name of Object.keys(dimValues)) {
    if (!symbolic.includes(name)) {
      const known = symbolic.length ? `its symbolic dims are ${symbolic.join(', ')}` : 'they have no symbolic dims';
      throw new WnError(`dim "${name}" is no symbolic dimension of the model's inputs (${known}); name one of those`);
    }
  }
  const shapes = specs.map((spec) => ({ spec, dims: concreteDims(spec, dimValues) }));
  const bytes = shapes.reduce((sum, { spec, dims }) => sum + elementCount(dims) * elementBytes(spec.type), 0);
  if (bytes > maxBytes) {
    const inputs = shapes.map(({ spec, dims }) => `"${spec.name}" [${dims}] ${dataTypeName(spec.type)}`).join(', ');
    throw new WnError(`random inputs of ${gigabytes(bytes)} (${inputs}) exceed the ${gigabytes(maxBytes)} allowed; `
      + 'give the symbolic dims smaller values');
  }
  const random = seededRandom(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const { spec, dims } of shapes) {
    const isFloat = [DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(spec.type);
    const values = Float64Array.from({ length: elementCount(dims) }, () => (isFloat ? random() * 2 - 1 : 0));
    feeds[spec.name] = toTensor(runtime, ortType(spec.type), values, dims);
  }
  return feeds;
}

const gigabytes = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/**
 * Builds an ORT tensor of `type` from the first product(dims) values of any numeric array,
 * converting element by element.
 */
export function toTensor(runtime: Runtime, type: ort.Tensor.Type, values: ArrayLike<number | bigint | boolean>, dims: number[]): ort.Tensor {
  const n = elementCount(dims);
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

/**
 * Rows of a sample array as the input's tensor: the first `rows`, or the rows listed (a
 * shuffled training batch). NaN/Inf and lossy float-to-integer casts are refused.
 */
export function inputTensor(runtime: Runtime, input: InputArray, rows: number | ArrayLike<number>): ort.Tensor {
  const { spec, array, source } = input;
  const indices = typeof rows === 'number' ? undefined : rows;
  const count = typeof rows === 'number' ? rows : rows.length;
  const shape = inputShape(input, count);
  const rowSize = elementCount(shape) / Math.max(count, 1);
  const target = ortType(spec.type);
  const floatTarget = target === 'float32' || target === 'float64';
  const values = indices ? gatherRows(array.data, indices, rowSize, floatTarget ? target : undefined) : array.data;
  if (isFloatDtype(array.dtype)) {
    if (!target.startsWith('float')) throw new WnError(`${source}: input "${spec.name}" is ${dataTypeName(spec.type)}, the data is ${array.dtype}; pass integer data`);
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
  if (indices && floatTarget) return new runtime.Tensor(target, values as Float32Array, shape);
  return toTensor(runtime, target, values, shape);
}
