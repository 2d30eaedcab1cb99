/**
 * What a TensorProto declares, checked against what it holds, before anything is allocated or
 * read from its declaration: dims are non-negative int64 within 2^53, their product is taken in
 * BigInt, and the values in whichever storage field holds them (raw_data, the typed repeated
 * fields, or external data) must be exactly as many as the dims say.
 */
import Long from 'long';
import type { Int64, TensorProto } from './proto';
import { DataLocation, DataType, dataTypeName } from './enums';
import { WnError } from '../errors';

/** Largest element count (and dim) handled: what a double holds exactly. */
const MAX_ELEMENTS = BigInt(Number.MAX_SAFE_INTEGER);

/** Bits of one element in raw_data (sub-byte types are packed). */
const ELEMENT_BITS: Partial<Record<DataType, number>> = {
  [DataType.FLOAT]: 32, [DataType.UINT8]: 8, [DataType.INT8]: 8, [DataType.UINT16]: 16, [DataType.INT16]: 16,
  [DataType.INT32]: 32, [DataType.INT64]: 64, [DataType.BOOL]: 8, [DataType.FLOAT16]: 16, [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32, [DataType.UINT64]: 64, [DataType.COMPLEX64]: 64, [DataType.COMPLEX128]: 128,
  [DataType.BFLOAT16]: 16, [DataType.FLOAT8E4M3FN]: 8, [DataType.FLOAT8E4M3FNUZ]: 8, [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8, [DataType.UINT4]: 4, [DataType.INT4]: 4, [DataType.FLOAT4E2M1]: 4,
  [DataType.FLOAT8E8M0]: 8, [DataType.UINT2]: 2, [DataType.INT2]: 2,
};

type ValueField = 'float_data' | 'int32_data' | 'string_data' | 'int64_data' | 'double_data' | 'uint64_data';
const VALUE_FIELDS: readonly ValueField[] = ['float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data'];

/** The typed field a type's values live in without raw_data, and how many entries per element (onnx.proto). */
function valueField(type: DataType): { field: ValueField; perElement: number } {
  switch (type) {
    case DataType.FLOAT: return { field: 'float_data', perElement: 1 };
    case DataType.COMPLEX64: return { field: 'float_data', perElement: 2 };
    case DataType.DOUBLE: return { field: 'double_data', perElement: 1 };
    case DataType.COMPLEX128: return { field: 'double_data', perElement: 2 };
    case DataType.INT64: return { field: 'int64_data', perElement: 1 };
    case DataType.UINT32: case DataType.UINT64: return { field: 'uint64_data', perElement: 1 };
    case DataType.STRING: return { field: 'string_data', perElement: 1 };
    default: return { field: 'int32_data', perElement: (ELEMENT_BITS[type] ?? 8) / Math.max(8, ELEMENT_BITS[type] ?? 8) };
  }
}

/** A tensor as messages name it. */
export function tensorLabel(t: TensorProto): string {
  return t.name ? `tensor "${t.name}"` : 'an unnamed tensor';
}

/** An int64 dim as a BigInt (protobufjs gives Long, number or, from JSON, string). */
function dimValue(d: Int64 | string): bigint {
  return BigInt(Long.fromValue(d as Int64).toString());
}

/** The element count the dims declare, checked: every dim ≥ 0 and the product within 2^53. */
export function declaredElementCount(t: TensorProto): number {
  const dims = (t.dims ?? []).map(dimValue);
  const shown = `[${dims.join(', ')}]`;
  const bad = dims.find((d) => d < 0n || d > MAX_ELEMENTS);
  if (bad !== undefined) {
    throw new WnError(`${tensorLabel(t)} declares dims ${shown}: ${bad} is not a valid dimension (0 to 2^53); the model is damaged`);
  }
  const count = dims.reduce((n, d) => n * d, 1n);
  if (count > MAX_ELEMENTS) {
    throw new WnError(`${tensorLabel(t)} declares dims ${shown}, ${count} elements: more than any tensor can hold; the model is damaged`);
  }
  return Number(count);
}

/** Checks the element type is one ONNX defines. */
function checkedType(t: TensorProto): DataType {
  const type = (t.data_type ?? 0) as DataType;
  if (ELEMENT_BITS[type] === undefined && type !== DataType.STRING) {
    throw new WnError(`${tensorLabel(t)} has element type ${dataTypeName(type)}, which ONNX does not define; the model is damaged`);
  }
  return type;
}

/** Bytes `count` elements of `type` take in raw_data or external data (sub-byte types packed). */
export function rawByteCount(type: DataType, count: number): number {
  const bits = ELEMENT_BITS[type];
  if (bits === undefined) throw new WnError(`tensors of ${dataTypeName(type)} have no raw byte form`);
  return Math.ceil((count * bits) / 8);
}

/**
 * The byte count a tensor's external data must have, from its dims and type, checked against
 * the `length` its external_data entry gives (if any).
 */
export function expectedExternalBytes(t: TensorProto, declaredLength: number | undefined): number {
  const type = checkedType(t);
  const bytes = rawByteCount(type, declaredElementCount(t));
  if (declaredLength !== undefined && declaredLength !== bytes) {
    throw new WnError(`${tensorLabel(t)}: its external data length is ${declaredLength} bytes, but [${(t.dims ?? []).join(', ')}] of ${dataTypeName(type)} takes ${bytes}; the model is damaged`);
  }
  return bytes;
}

/**
 * Checks a tensor's values against its declaration: exactly one storage (raw_data, the typed field
 * of its type, or external data not loaded yet) holding exactly the declared number of values.
 */
export function checkTensorData(t: TensorProto): void {
  const type = checkedType(t);
  const count = declaredElementCount(t);
  const held = VALUE_FIELDS.filter((f) => (t[f]?.length ?? 0) > 0);
  const raw = t.raw_data?.length ? t.raw_data : undefined;
  const external = t.data_location === DataLocation.EXTERNAL;
  if (held.length && (raw || external)) {
    throw new WnError(`${tensorLabel(t)} holds values both in ${held[0]} and in ${raw ? 'raw_data' : 'external data'}; the model is damaged`);
  }
  if (held.length > 1) throw new WnError(`${tensorLabel(t)} holds values in both ${held[0]} and ${held[1]}; the model is damaged`);
  const what = `${tensorLabel(t)} declares dims [${(t.dims ?? []).join(', ')}] of ${dataTypeName(type)}`;
  if (raw || (external && t.raw_data)) {
    const needed = rawByteCount(type, count);
    const bytes = t.raw_data!.length;
    if (bytes !== needed) throw new WnError(`${what} (${needed} bytes) but holds ${bytes} bytes of data; the model is damaged or truncated`);
    return;
  }
  if (external) return;  // checked when its bytes are read (resolveExternalData)
  const { field, perElement } = valueField(type);
  if (held.length && held[0] !== field) {
    throw new WnError(`${tensorLabel(t)} is ${dataTypeName(type)} but holds its values in ${held[0]} (this type's field is ${field} or raw_data); the model is damaged`);
  }
  const entries = t[field]?.length ?? 0;
  const needed = Math.ceil(count * perElement);
  if (entries !== needed) {
    const values = entries ? `${entries} values in ${field}` : 'no data';
    throw new WnError(`${what} (${count} elements) but holds ${values}; the model is damaged or truncated`);
  }
}
