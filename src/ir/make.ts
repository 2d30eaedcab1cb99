/** Building a model from scratch (bundled models, tests, library users who generate graphs). */
import Long from 'long';
import type { ModelProto, NodeProto, TensorProto, ValueInfoProto } from '../onnx/proto';
import { makeAttribute, type AttributeValue } from './attributes';
import { Model } from './model';
import { tensorValueInfo } from './graph';

export interface ModelSpec {
  opset: number;
  irVersion?: number;
  name?: string;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  nodes: NodeProto[];
  initializers: TensorProto[];
  producer?: string;
}

/** IR version that goes with a default-domain opset (ONNX's own table, newest first). */
function irVersionFor(opset: number): number {
  const table: [number, number][] = [[23, 11], [21, 10], [19, 9], [15, 8], [13, 7], [11, 6], [10, 5], [9, 4], [7, 3]];
  return table.find(([o]) => opset >= o)?.[1] ?? 3;
}

export function makeModel(spec: ModelSpec): Model {
  const proto: ModelProto = {
    ir_version: Long.fromNumber(spec.irVersion ?? irVersionFor(spec.opset)),
    producer_name: spec.producer ?? 'wn-onnx',
    opset_import: [{ domain: '', version: Long.fromNumber(spec.opset) }],
    graph: {
      name: spec.name ?? 'graph',
      node: spec.nodes,
      initializer: spec.initializers,
      input: spec.inputs,
      output: spec.outputs,
      value_info: [],
    },
  };
  return new Model(proto);
}

export function makeNode(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue | { float: number }> = {}, name = outputs[0]): NodeProto {
  return {
    name,
    op_type: opType,
    domain: '',
    input: inputs,
    output: outputs,
    attribute: Object.entries(attributes).map(([k, v]) => makeAttribute(k, v)),
  };
}

/** A tensor input/output declaration; string dims are symbolic (dim_param). */
export function tensorInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  const info = tensorValueInfo(name, elemType, []);
  info.type!.tensor_type!.shape!.dim = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return info;
}
