/** Reading and writing tensor payloads (raw_data or the typed repeated fields). */
import Long from 'long';
import { DataType, dataTypeName, FLOAT_TYPES } from '../onnx/enums';
import type { TensorProto } from '../onnx/proto';
import { createTensorProto, withoutFields } from '../onnx/codec';
import { toNumber } from '../onnx/int64';
import { WnError } from '../errors';
import { bfloat16ToFloat, elementBytes, floatToBfloat16, floatToHalf, halfToFloat } from './dtype';

export type FloatArray = Float32Array | Float64Array;

/** Little-endian float32/float64 bytes at an offset a typed array cannot view. */
export interface UnalignedFloats {
  bytes: Uint8Array;
  Array: Float32ArrayConstructor | Float64ArrayConstructor;
}

export type FloatStorage = FloatArray | UnalignedFloats;

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

function checkRawLength(t: TensorProto, raw: Uint8Array, count: number, bytes: number): void {
  if (raw.length !== count * bytes) {
    throw new WnError(`tensor "${t.name}": raw_data has ${raw.length} bytes, its shape [${tensorDims(t)}] of ${dataTypeName(t.data_type ?? 0)} needs ${count * bytes}`);
  }
}

/** A typed view of raw bytes when aligned, else an aligned copy. */
function typedView<T extends ArrayBufferView>(
  raw: Uint8Array, ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const n = raw.length / ctor.BYTES_PER_ELEMENT;
  if (raw.byteOffset % ctor.BYTES_PER_ELEMENT === 0) return new ctor(raw.buffer as ArrayBuffer, raw.byteOffset, n);
  // (a Node Buffer's slice() is a view, so copy explicitly)
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return new ctor(copy.buffer, 0, n);
}

/**
 * The values of a floating-point tensor: float32 and float64 as views of raw_data where the
 * bytes are aligned (writes go into the model's buffer), float16/bfloat16 widened to float32.
 */
export function readFloats(t: TensorProto): FloatArray {
  const type = (t.data_type ?? 0) as DataType;
  if (!FLOAT_TYPES.has(type)) throw new WnError(`tensor "${t.name}" is ${dataTypeName(type)}, not a floating-point type`);
  const count = elementCount(tensorDims(t));
  const raw = t.raw_data;
  if (raw && raw.length > 0 || count === 0) {
    const bytes = raw ?? new Uint8Array(0);
    checkRawLength(t, bytes, count, elementBytes(type));
    if (type === DataType.FLOAT) return typedView(bytes, Float32Array);
    if (type === DataType.DOUBLE) return typedView(bytes, Float64Array);
    const bits = typedView(bytes, Uint16Array);
    const widen = type === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
    return Float32Array.from(bits, widen);
  }
  if (type === DataType.FLOAT) return Float32Array.from(t.float_data ?? []);
  if (type === DataType.DOUBLE) return Float64Array.from(t.double_data ?? []);
  // float16/bfloat16 without raw_data live in int32_data, one value per element
  const widen = type === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
  return Float32Array.from(t.int32_data ?? [], widen);
}

/**
 * The values of a floating-point tensor for in-place work: like readFloats, except that
 * float32/float64 raw_data at an unaligned offset is returned as its bytes (no copy; the norm
 * and scale loops handle it).
 */
export function floatStorage(t: TensorProto): FloatStorage {
  const type = (t.data_type ?? 0) as DataType;
  const raw = t.raw_data;
  const Array = type === DataType.FLOAT ? Float32Array : type === DataType.DOUBLE ? Float64Array : undefined;
  if (Array && raw && raw.length > 0 && raw.byteOffset % Array.BYTES_PER_ELEMENT !== 0) {
    checkRawLength(t, raw, elementCount(tensorDims(t)), Array.BYTES_PER_ELEMENT);
    return { bytes: raw, Array };
  }
  return readFloats(t);
}

/** Little-endian raw bytes of float values in the given floating-point type. */
export function floatsToRaw(values: FloatArray, type: DataType): Uint8Array {
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  switch (type) {
    case DataType.FLOAT: return asBytes(values instanceof Float32Array ? values : Float32Array.from(values));
    case DataType.DOUBLE: return asBytes(values instanceof Float64Array ? values : Float64Array.from(values));
    case DataType.FLOAT16: return asBytes(Uint16Array.from(values, floatToHalf));
    case DataType.BFLOAT16: return asBytes(Uint16Array.from(values, floatToBfloat16));
    default: throw new WnError(`cannot write floating-point values as ${dataTypeName(type)}`);
  }
}

export function floatTensor(name: string, type: DataType, dims: readonly number[], values: FloatArray): TensorProto {
  return createTensorProto({ name, data_type: type, dims: [...dims], raw_data: floatsToRaw(values, type) });
}

/** A copy of a floating-point tensor (name, dims, type, metadata) holding other values. */
export function withFloatValues(t: TensorProto, values: FloatArray): TensorProto {
  const copy = withoutFields(t, ['raw_data', 'float_data', 'double_data', 'int32_data']);
  copy.raw_data = floatsToRaw(values, (t.data_type ?? 0) as DataType);
  return copy;
}

export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return createTensorProto({ name, data_type: DataType.INT64, dims: [...dims], raw_data: new Uint8Array(data.buffer) });
}

/** Integer tensor values (INT64, INT32, UINT8, INT8: shape/axes constants, sample data) as numbers. */
export function readInts(t: TensorProto): number[] {
  const type = (t.data_type ?? 0) as DataType;
  const raw = t.raw_data;
  const count = elementCount(tensorDims(t));
  if (type === DataType.INT64) {
    if (raw && raw.length) {
      checkRawLength(t, raw, count, 8);
      return Array.from(typedView(raw, BigInt64Array), (v) => Number(v));
    }
    return (t.int64_data ?? []).map((v) => Long.fromValue(v).toNumber());
  }
  if (type === DataType.INT32) {
    if (raw && raw.length) {
      checkRawLength(t, raw, count, 4);
      return Array.from(typedView(raw, Int32Array));
    }
    return [...(t.int32_data ?? [])];
  }
  if (type === DataType.UINT8 || type === DataType.INT8) {
    if (raw && raw.length) {
      checkRawLength(t, raw, count, 1);
      return Array.from(type === DataType.INT8 ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : raw);
    }
    return [...(t.int32_data ?? [])];
  }
  throw new WnError(`tensor "${t.name}" is ${dataTypeName(type)}, expected an integer type`);
}

/** The typed array each element type's raw bytes are read as (little-endian, as ONNX stores them). */
const RAW_ARRAYS: Partial<Record<DataType, { new (b: ArrayBuffer, o: number, n: number): ArrayBufferView; BYTES_PER_ELEMENT: number }>> = {
  [DataType.FLOAT]: Float32Array, [DataType.DOUBLE]: Float64Array, [DataType.FLOAT16]: Uint16Array,
  [DataType.INT8]: Int8Array, [DataType.UINT8]: Uint8Array, [DataType.INT16]: Int16Array, [DataType.UINT16]: Uint16Array,
  [DataType.INT32]: Int32Array, [DataType.UINT32]: Uint32Array, [DataType.INT64]: BigInt64Array, [DataType.UINT64]: BigUint64Array,
  [DataType.BOOL]: Uint8Array,
};

/**
 * A tensor's raw_data as a typed array of its element type, viewing the bytes where they are
 * aligned (else an aligned copy); undefined for tensors without raw_data or of other types.
 * float16 comes as its bits (Uint16Array).
 */
export function rawArray(t: TensorProto): ArrayBufferView | undefined {
  const Array = RAW_ARRAYS[(t.data_type ?? 0) as DataType];
  const raw = t.raw_data;
  if (!Array || !raw?.length) return undefined;
  checkRawLength(t, raw, elementCount(tensorDims(t)), Array.BYTES_PER_ELEMENT);
  return typedView(raw, Array);
}
