/** .npy arrays (parsed by npyjs) as model input tensors, checked against the input they feed. */
import type * as ort from 'onnxruntime-common';
import { parse } from 'npyjs';
import { WnError } from '../errors';
import { concreteDims, ortType, toTensor, type InputSpec } from '../runtime/feeds';
import type { Runtime } from '../runtime/session';

export interface NdArray {
  data: ArrayLike<number | bigint>;
  shape: number[];
}

export function parseNpy(bytes: Uint8Array, source: string): NdArray {
  let array;
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    array = parse(buffer);
  } catch (e) {
    throw new WnError(`${source}: not a valid .npy file (${(e as Error).message})`);
  }
  if (array.fortranOrder) throw new WnError(`${source}: Fortran-ordered arrays are not supported; save it with np.ascontiguousarray`);
  if (array.dtype.startsWith('U') || array.dtype.startsWith('c')) throw new WnError(`${source}: dtype ${array.dtype} is not numeric`);
  return { data: array.data as unknown as ArrayLike<number | bigint>, shape: array.shape };
}

/** An array as the tensor for one model input: shape checked against the declared dims, values cast. */
export function inputTensor(runtime: Runtime, spec: InputSpec, array: NdArray, source: string): ort.Tensor {
  const declared = spec.dims;
  const fits = array.shape.length === declared.length && declared.every((d, i) => d === null || d === array.shape[i]);
  if (!fits) {
    const expected = concreteDims(spec).map((d, i) => (spec.dims[i] === null ? spec.params[i] ?? '?' : d));
    throw new WnError(`${source}: input "${spec.name}" expects shape [${expected}], the data has shape [${array.shape}]`);
  }
  return toTensor(runtime, ortType(spec.type), array.data, array.shape);
}
