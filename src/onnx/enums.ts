/** ONNX enums by name (TensorProto.DataType, AttributeProto.AttributeType, TensorProto.DataLocation). */

export enum DataType {
  UNDEFINED = 0, FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7,
  STRING = 8, BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, COMPLEX64 = 14,
  COMPLEX128 = 15, BFLOAT16 = 16, FLOAT8E4M3FN = 17, FLOAT8E4M3FNUZ = 18, FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20, UINT4 = 21, INT4 = 22, FLOAT4E2M1 = 23, FLOAT8E8M0 = 24, UINT2 = 25, INT2 = 26,
}

export enum AttributeType {
  UNDEFINED = 0, FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, GRAPH = 5, SPARSE_TENSOR = 11, TYPE_PROTO = 13,
  FLOATS = 6, INTS = 7, STRINGS = 8, TENSORS = 9, GRAPHS = 10, SPARSE_TENSORS = 12, TYPE_PROTOS = 14,
}

export enum DataLocation { DEFAULT = 0, EXTERNAL = 1 }

/** Floating-point types weight normalization applies to. */
export const FLOAT_TYPES: ReadonlySet<DataType> = new Set([
  DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE,
]);

export function dataTypeName(type: number): string {
  return DataType[type] ?? `data type ${type}`;
}
