/**
 * Emits default-domain ops in the form the model's opset requires, names everything it makes
 * under one prefix (`conv1.weight/wn/norm`) and stamps each node's doc_string with the pass.
 * Nodes are collected, not inserted: the pass decides where they go.
 */
import type { NodeProto, TensorProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
import { makeAttribute, type AttributeValue } from './attributes';
import type { Graph } from './graph';
import { floatTensor, int64Tensor } from '../tensor/values';

/** Value names of a standardization (Builder.moments). */
export interface Moments { mean: string; centered: string; squared: string; variance: string; varianceEps: string; std: string }

export class Builder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly claimed = new Set<string>();

  constructor(
    private readonly graph: Graph,
    readonly opset: number,
    private readonly prefix: string,
    private readonly docString: string,
  ) {}

  /** A fresh name under the prefix, unique in the graph and among what this builder made. */
  name(role: string): string {
    let name = this.graph.uniqueName(`${this.prefix}/${role}`);
    for (let i = 1; this.claimed.has(name); i++) name = this.graph.uniqueName(`${this.prefix}/${role}_${i}`);
    this.claimed.add(name);
    return name;
  }

  /** Adds a node; its output is `output` when given (to reproduce an existing value's name). */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue | { float: number }> = {}, role = opType, output?: string): string {
    const nodeName = this.name(role);
    const out = output ?? nodeName;
    this.nodes.push({
      name: nodeName,
      op_type: opType,
      domain: '',
      input: inputs,
      output: [out],
      attribute: Object.entries(attributes).map(([k, v]) => makeAttribute(k, v)),
      doc_string: this.docString,
    });
    return out;
  }

  /** A node of another domain (ONNX Runtime's own kernels); the model must import that domain. */
  customOp(domain: string, opType: string, inputs: string[], attributes: Record<string, AttributeValue | { float: number }> = {}, role = opType, output?: string): string {
    const out = this.op(opType, inputs, attributes, role, output);
    this.nodes[this.nodes.length - 1].domain = domain;
    return out;
  }

  /** A node with several outputs (Split, MaxPool with Indices …): returns their names. */
  multiOp(opType: string, inputs: string[], outputs: number, attributes: Record<string, AttributeValue | { float: number }> = {}, role = opType): string[] {
    const first = this.op(opType, inputs, attributes, role);
    const node = this.nodes[this.nodes.length - 1];
    for (let i = 1; i < outputs; i++) node.output!.push(this.name(`${role}_out${i}`));
    return [first, ...node.output!.slice(1)];
  }

  constantInt64(role: string, values: number[]): string {
    const name = this.name(role);
    this.initializers.push(int64Tensor(name, values));
    return name;
  }

  constantScalar(role: string, type: DataType, value: number): string {
    const name = this.name(role);
    this.initializers.push(type === DataType.INT64 ? int64Tensor(name, [value], []) : floatTensor(name, type, [], Float64Array.of(value)));
    return name;
  }

  /** What this builder made: its constants into the graph, its nodes at position `at`. */
  placeAt(at: number): void {
    for (const constant of this.initializers) this.graph.addInitializer(constant);
    this.graph.insertNodes(this.nodes, at);
  }

  /** `nodes` replaced by what this builder made, where the first stood; it produces `produced` in their place. */
  replace(nodes: readonly NodeProto[], produced: readonly string[]): void {
    const at = this.graph.nodes.indexOf(nodes[0]);
    this.graph.removeNodes(nodes, produced);
    this.placeAt(at);
  }

  /** A Reduce* op; `axes` is an attribute until opset 12 (ReduceSum) or 17 (the others), an input after. */
  reduce(opType: string, x: string, axes: number[], keepdims: boolean, role: string): string {
    const attributes = { keepdims: keepdims ? 1 : 0 };
    if (this.opset >= (opType === 'ReduceSum' ? 13 : 18)) return this.op(opType, [x, this.constantInt64(`${role}_axes`, axes)], attributes, role);
    return this.op(opType, [x], { axes, ...attributes }, role);
  }

  /** Zero padding, `pads` as [begins…, ends…]: an attribute before opset 11, an input from 11. */
  pad(x: string, pads: number[], role = 'Pad'): string {
    if (this.opset >= 11) return this.op('Pad', [x, this.constantInt64(`${role}_pads`, pads)], {}, role);
    return this.op('Pad', [x], { mode: 'constant', pads }, role);
  }

  reduceL2(x: string, axes: number[], role = 'norm'): string {
    return this.reduce('ReduceL2', x, axes, true, role);
  }

  /** max(x, floor): Max broadcasts a scalar from opset 8 on; opset 7 has only Clip's `min` attribute. */
  atLeast(x: string, floor: number, type: DataType, role = 'floor'): string {
    if (this.opset >= 8) return this.op('Max', [x, this.constantScalar(`${role}_value`, type, floor)], {}, role);
    return this.op('Clip', [x], { min: { float: floor } }, role);
  }

  /**
   * Standardization statistics of `x`: μ = mean(x), x − μ, the population variance
   * mean((x − μ)²) and σ = sqrt(var + eps). `mean(value, role)` takes the mean over the batch
   * axes in a shape that broadcasts against x. Shared by data-dependent init and batch norm in
   * training mode; roles are `prefix` + mean, centered, squared, variance, variance_eps, std.
   */
  moments(x: string, mean: (value: string, role: string) => string, eps: number, type: DataType, prefix = ''): Moments {
    const mu = mean(x, `${prefix}mean`);
    const centered = this.op('Sub', [x, mu], {}, `${prefix}centered`);
    const squared = this.op('Mul', [centered, centered], {}, `${prefix}squared`);
    const variance = mean(squared, `${prefix}variance`);
    const varianceEps = this.op('Add', [variance, this.constantScalar(`${prefix}eps`, type, eps)], {}, `${prefix}variance_eps`);
    const std = this.op('Sqrt', [varianceEps], {}, `${prefix}std`);
    return { mean: mu, centered, squared, variance, varianceEps, std };
  }

  cast(x: string, to: DataType, role = 'cast', output?: string): string {
    return this.op('Cast', [x], { to }, role, output);
  }

  /** Reshape takes its shape as an input (opset 5 on; wn-onnx needs 7 or newer). */
  reshape(x: string, shape: number[], role = 'reshape', output?: string): string {
    return this.op('Reshape', [x, this.constantInt64(`${role}_shape`, shape)], {}, role, output);
  }
}
