/**
 * Reverse-mode autodiff over an ONNX graph. Walks the nodes backwards from seeded values (a
 * value and the name of its gradient, e.g. the logits and ∂loss/∂logits) and asks each node's
 * gradient rule for its inputs' gradients, summing where a value feeds several nodes. Only
 * nodes that lie between the requested parameters and the seeds are differentiated; the
 * emitted nodes are returned for the caller to place after the forward graph. A rule may have
 * a forward node compute an output it lacked (MaxPool's Indices): such a node is replaced in
 * the model's graph by a copy with that output, so the model given must be the caller's own.
 * A caller may stop the gradient at some values (they act as constants) and rewrite the
 * gradient of others before their producer sees it (a custom vector-Jacobian product, as
 * mean-only BN's centering: cheaper as one rewrite of ∂t than differentiated op by op).
 */
import type { NodeProto, TensorProto } from '../onnx/proto';
import { FLOAT_TYPES } from '../onnx/enums';
import type { Model } from '../ir/model';
import { Builder } from '../ir/builder';
import { isDefaultDomain } from '../ir/graph';
import { option, WnError } from '../errors';
import { GradContext, type GradLinks, type Lowering } from './rule';
import { differentiableOps, gradientRule } from './registry';
import type { ValueTypes } from '../ir/value-types';

/**
 * Rewrites the total gradient `dy` of one value before the node that computes it is
 * differentiated; `more` adds gradients of other values (the caller's own parameters).
 */
export type GradientHook = (b: Builder, dy: string) => { dy: string; more?: [value: string, grad: string][] };

export interface BackwardOptions {
  /** Value name → name of its gradient (already computed by the caller). */
  seeds: ReadonlyMap<string, string>;
  /** Values to differentiate with respect to (parameters, usually graph inputs). */
  wrt: readonly string[];
  types: ValueTypes;
  /** What the execution provider runs (default: ONNX Runtime's CPU kernels). */
  lowering?: Lowering;
  /** Values no gradient flows through (treated as constants). */
  stops?: ReadonlySet<string>;
  /** Values whose gradient is rewritten before their producer sees it. */
  hooks?: ReadonlyMap<string, GradientHook>;
}

export interface Backward {
  /** Gradient value of each requested value that the seeds depend on. */
  grads: Map<string, string>;
  /** Requested values the seeds do not depend on (no gradient). */
  unreached: string[];
  nodes: NodeProto[];
  initializers: TensorProto[];
}

export function buildBackward(model: Model, { seeds, wrt, types, lowering, stops, hooks }: BackwardOptions): Backward {
  const graph = model.graph;
  const opset = model.defaultOpset();
  const b = new Builder(graph, opset, 'grad', 'wn-onnx backward pass');
  const isFloat = (name: string) => FLOAT_TYPES.has(types.get(name)?.type ?? 0);
  const differentiable = (node: NodeProto, i: number) => !gradientRule(node.op_type ?? '')?.nonDifferentiable?.includes(i);

  // values that depend on a requested one through differentiable inputs
  const active = new Set(wrt);
  for (const node of graph.nodes) {
    if ((node.input ?? []).some((name, i) => name && active.has(name) && differentiable(node, i))) {
      for (const out of node.output ?? []) if (out && isFloat(out) && !stops?.has(out)) active.add(out);
    }
  }
  // values the seeds depend on
  const needed = new Set(seeds.keys());
  for (const node of [...graph.nodes].reverse()) {
    if ((node.output ?? []).some((o) => needed.has(o))) for (const name of node.input ?? []) if (name) needed.add(name);
  }

  // gradients that already carry their value's producer's derivative (MaxPool's, on a Relu's output)
  const carried = new Set<string>();
  const links: GradLinks = {
    soleProducer(name) {
      if (graph.consumers(name).length !== 1 || graph.isGraphOutput(name) || seeds.has(name) || hooks?.has(name)) return undefined;
      const node = graph.producer(name);
      const rule = node && isDefaultDomain(node) ? gradientRule(node.op_type ?? '') : undefined;
      return node && rule ? { node, rule } : undefined;
    },
    carry: (grad) => carried.add(grad),
    carries: (grad) => carried.has(grad),
  };

  const contributions = new Map<string, string[]>();
  const contribute = (name: string, grad: string) => {
    const list = contributions.get(name);
    if (list) list.push(grad);
    else contributions.set(name, [grad]);
  };
  for (const [value, grad] of seeds) contribute(value, grad);
  const totals = new Map<string, string>();
  const total = (name: string): string | undefined => {
    if (totals.has(name)) return totals.get(name);
    const parts = contributions.get(name);
    if (!parts?.length) return undefined;
    const sum = parts.length === 1 ? parts[0] : b.op('Sum', parts, {}, `${name}/sum`);
    const hook = hooks?.get(name);
    const hooked = hook ? hook(b, sum) : { dy: sum };
    for (const [value, grad] of hooked.more ?? []) contribute(value, grad);
    totals.set(name, hooked.dy);
    return hooked.dy;
  };

  for (const node of [...graph.nodes].reverse()) {
    const outputGrads = (node.output ?? []).map((o) => (o && active.has(o) ? total(o) : undefined));
    if (!outputGrads.some(Boolean)) continue;
    const wanted = (node.input ?? []).map((name, i) => !!name && active.has(name) && needed.has(name) && isFloat(name) && differentiable(node, i));
    if (!wanted.some(Boolean)) continue;
    const rule = isDefaultDomain(node) ? gradientRule(node.op_type ?? '') : undefined;
    if (!rule) {
      const op = isDefaultDomain(node) ? node.op_type : `${node.domain}::${node.op_type}`;
      throw new WnError(`no gradient rule for op ${op} (node "${node.name || node.output?.[0]}"), which lies between the trainable parameters and the loss; freeze the parameters before it with ${option('freeze')}, or use ops that have rules: ${differentiableOps().join(', ')}`);
    }
    const addOutput = (index: number, name: string) => {
      const output = [...(node.output ?? [])];
      while (output.length < index) output.push('');
      output[index] = name;
      graph.replaceNode(node, { ...node, output });
    };
    const ctx = new GradContext(node, opset, b, types, outputGrads, wanted, addOutput, lowering, links);
    const inputGrads = rule.grad(ctx);
    (node.input ?? []).forEach((name, i) => {
      const grad = inputGrads[i];
      if (wanted[i] && grad) contribute(name, grad);
    });
  }

  const grads = new Map<string, string>();
  const unreached: string[] = [];
  for (const name of wrt) {
    const grad = total(name);
    if (grad) grads.set(name, grad);
    else unreached.push(name);
  }
  return { grads, unreached, nodes: b.nodes, initializers: b.initializers };
}
