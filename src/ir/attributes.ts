/** Typed access to node attributes, and attribute construction with the right AttributeType. */
import Long from 'long';
import { AttributeType } from '../onnx/enums';
import type { AttributeProto, NodeProto, TensorProto } from '../onnx/proto';
import { toNumber } from '../onnx/int64';

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? toNumber(a.i) : fallback;
}

export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? a.f ?? 0 : fallback;
}

export type AttributeValue = number | number[] | string | TensorProto;

/** Integers become INT/INTS; pass `{ float: x }` for a FLOAT. */
export function makeAttribute(name: string, value: AttributeValue | { float: number }): AttributeProto {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: Long.fromNumber(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value.map((v) => Long.fromNumber(v)) };
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.TENSOR, t: value };
}
