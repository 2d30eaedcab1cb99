/**
 * bytes <-> ModelProto on protobufjs, with the ONNX schema of onnx.proto.ts.
 *
 * Decoding keeps fields this schema does not know (protobufjs `$unknowns`) and leaves bytes
 * fields as views into the input. Encoding returns chunks instead of one buffer: large
 * initializer payloads of the main graph are emitted as their own views, so writing a model
 * never holds a second copy of its weights (the caller writes the chunks in order).
 */
import * as protobuf from 'protobufjs';
import Long from 'long';
import { ONNX_PROTO } from './onnx.proto';
import type { GraphProto, ModelProto, TensorProto } from './proto';
import { WnError } from '../errors';

protobuf.util.Long = Long;
protobuf.configure();

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
const ModelType = root.lookupType('onnx.ModelProto');
const GraphType = root.lookupType('onnx.GraphProto');
const TensorType = root.lookupType('onnx.TensorProto');

/** Protobuf's hard limit on one message: a model larger than this needs external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** Initializer payloads at least this large are emitted as separate chunks (views). */
const CHUNK_THRESHOLD = 1 << 16;

const FIELD_GRAPH = 7;           // ModelProto.graph
const FIELD_INITIALIZER = 5;     // GraphProto.initializer
const FIELD_RAW_DATA = 9;        // TensorProto.raw_data
const WIRE_LENGTH_DELIMITED = 2;

export function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    const reader = protobuf.Reader.create(bytes);
    reader.discardUnknown = false;
    model = ModelType.decode(reader) as ModelProto;
  } catch (e) {
    throw new WnError(`not a valid ONNX model: the protobuf data is malformed or truncated (${(e as Error).message})`);
  }
  if (!has(model, 'ir_version') || !has(model, 'graph')) {
    throw new WnError('not an ONNX model: no ir_version or graph in the file (is it an ONNX ModelProto?)');
  }
  return model;
}

/** A single serialized TensorProto (ONNX test data's input_N.pb files, tensors saved with onnx.save_tensor). */
export function decodeTensor(bytes: Uint8Array, source = 'tensor'): TensorProto {
  try {
    return TensorType.decode(protobuf.Reader.create(bytes)) as TensorProto;
  } catch (e) {
    throw new WnError(`${source}: not a valid ONNX TensorProto (${(e as Error).message})`);
  }
}

/** Whether an optional field was present in the decoded message (proto2 presence). */
export function has<T extends object>(message: T, field: keyof T): boolean {
  return Object.prototype.hasOwnProperty.call(message, field) && message[field] != null;
}

/** Makes a message of the right protobufjs type from plain fields (for messages we create). */
export function createTensorProto(fields: TensorProto): TensorProto {
  return TensorType.create(fields) as TensorProto;
}

/** A shallow copy of a decoded message with some fields left out; `$unknowns` stays. */
export function withoutFields<T extends object>(message: T, fields: string[]): T {
  const copy = Object.create(Object.getPrototypeOf(message)) as T;
  for (const key of Reflect.ownKeys(message)) {
    if (typeof key === 'string' && fields.includes(key)) continue;
    Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(message, key)!);
  }
  return copy;
}

function encodeTensor(tensor: TensorProto): Uint8Array {
  return TensorType.encode(tensor).finish();
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

function lengthDelimitedHeader(field: number, length: number): Uint8Array {
  return Uint8Array.from([...varint((field << 3) | WIRE_LENGTH_DELIMITED), ...varint(length)]);
}

/** One initializer as chunks; a large raw_data payload stays a view of its own. */
function initializerChunks(tensor: TensorProto): Uint8Array[] {
  const raw = tensor.raw_data;
  if (!raw || raw.length < CHUNK_THRESHOLD) {
    const body = encodeTensor(tensor);
    return [lengthDelimitedHeader(FIELD_INITIALIZER, body.length), body];
  }
  const rest = encodeTensor(withoutFields(tensor, ['raw_data']));
  const rawHeader = lengthDelimitedHeader(FIELD_RAW_DATA, raw.length);
  const body = rest.length + rawHeader.length + raw.length;
  return [lengthDelimitedHeader(FIELD_INITIALIZER, body), rest, rawHeader, raw];
}

export function chunksLength(chunks: Uint8Array[]): number {
  return chunks.reduce((sum, c) => sum + c.length, 0);
}

/**
 * Encodes a model as a list of chunks whose concatenation is the serialized ModelProto.
 * `substitute` lets the caller swap tensors for their on-disk form (external data) without
 * touching the model.
 */
export function encodeModelChunks(model: ModelProto, substitute?: (t: TensorProto) => TensorProto): Uint8Array[] {
  const { once, restore } = installTensorSubstitute(substitute);
  try {
    const head = ModelType.encode(withoutFields(model, ['graph'])).finish();
    if (!model.graph) return [head];
    const graph: GraphProto = model.graph;
    const graphChunks: Uint8Array[] = [GraphType.encode(withoutFields(graph, ['initializer'])).finish()];
    for (const init of graph.initializer ?? []) graphChunks.push(...initializerChunks(once(init)));
    return [head, lengthDelimitedHeader(FIELD_GRAPH, chunksLength(graphChunks)), ...graphChunks];
  } finally {
    restore();
  }
}

/** Concatenates chunks into one buffer (for callers that need the bytes in one piece). */
export function concatChunks(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunksLength(chunks));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** The serialized ModelProto in one buffer (`substitute` as for encodeModelChunks). */
export function encodeModel(model: ModelProto, substitute?: (t: TensorProto) => TensorProto): Uint8Array {
  return concatChunks(encodeModelChunks(model, substitute));
}

/**
 * protobufjs's generated encoders call `types[i].encode` on the nested Type object at encode
 * time, so wrapping TensorType.encode reaches tensors anywhere (subgraphs, attributes,
 * functions) while one encode runs.
 */
function installTensorSubstitute(substitute?: (t: TensorProto) => TensorProto): { once: (t: TensorProto) => TensorProto; restore: () => void } {
  if (!substitute) return { once: (t) => t, restore: () => {} };
  // a tensor the substitute returned is encoded as it is: a substitute need not be idempotent
  const substituted = new WeakSet<TensorProto>();
  const once = (t: TensorProto) => {
    if (substituted.has(t)) return t;
    const replacement = substitute(t);
    substituted.add(replacement);
    return replacement;
  };
  const generated = TensorType.encode;
  TensorType.encode = ((message: TensorProto, writer?: protobuf.Writer) =>
    generated.call(TensorType, once(message), writer)) as typeof TensorType.encode;
  return { once, restore: () => { TensorType.encode = generated; } };
}
