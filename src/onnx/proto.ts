/**
 * TypeScript shapes of the decoded ONNX messages (see onnx.proto.ts). Decoded objects are
 * protobufjs messages: absent optional fields read as their default and are not own properties,
 * int64 fields are Long values, bytes fields are views into the decoded buffer, and fields this
 * schema does not know are kept in `$unknowns` and written back on encode.
 */
import type Long from 'long';

export type Int64 = Long | number;

interface Message {
  $unknowns?: Uint8Array[];
}

export interface StringStringEntryProto extends Message { key?: string; value?: string }

export interface OperatorSetIdProto extends Message { domain?: string; version?: Int64 }

export interface TensorProto extends Message {
  dims?: Int64[];
  data_type?: number;
  segment?: { begin?: Int64; end?: Int64 };
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: Int64[];
  metadata_props?: StringStringEntryProto[];
}

export interface SparseTensorProto extends Message { values?: TensorProto; indices?: TensorProto; dims?: Int64[] }

export interface DimensionProto extends Message { dim_value?: Int64; dim_param?: string; denotation?: string }

export interface TensorShapeProto extends Message { dim?: DimensionProto[] }

export interface TypeProto extends Message {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
}

export interface ValueInfoProto extends Message {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface AttributeProto extends Message {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

export interface NodeProto extends Message {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  device_configurations?: unknown[];
}

export interface TensorAnnotation extends Message {
  tensor_name?: string;
  quant_parameter_tensor_names?: StringStringEntryProto[];
}

export interface GraphProto extends Message {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: TensorAnnotation[];
  metadata_props?: StringStringEntryProto[];
}

export interface TrainingInfoProto extends Message {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initialization_binding?: StringStringEntryProto[];
  update_binding?: StringStringEntryProto[];
}

export interface FunctionProto extends Message {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node?: NodeProto[];
  doc_string?: string;
  opset_import?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
}

export interface ModelProto extends Message {
  ir_version?: Int64;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  training_info?: TrainingInfoProto[];
  functions?: FunctionProto[];
  configuration?: unknown[];
}
