/**
 * Validation of a model as it is loaded, before any work, in the spirit of ONNX's checker:
 * every tensor's declaration against its data (src/onnx/tensor-check.ts), and the structure of
 * the main graph and its subgraphs: names defined once, every node input produced by something
 * (a graph input, an initializer, an earlier node, or for a subgraph the enclosing scope),
 * nodes in topological order and no cycle, every graph output produced, shapes of graph inputs
 * and outputs that are non-negative. A violation is one error naming the graph and the node.
 */
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from '../onnx/proto';
import { forEachTensor } from '../onnx/external';
import { checkTensorData } from '../onnx/tensor-check';
import Long from 'long';
import { WnError } from '../errors';
import { isDefaultDomain } from './graph';

/** A node as messages name it. */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? `node "${node.name}" (${node.op_type})` : `node #${index} (${node.op_type}, unnamed)`;
}

/** Checks a whole model: tensors anywhere in it, then the main graph and every subgraph. */
export function validateModel(model: { proto: ModelProto }): void {
  forEachTensor(model.proto, checkTensorData);
  if (!model.proto.graph) throw new WnError('not an ONNX model: it has no graph');
  validateGraph(model.proto.graph, 'the main graph', new Set());
}

function fail(where: string, problem: string, fix = 'the model is damaged; re-export it'): never {
  throw new WnError(`${where}: ${problem}; ${fix}`);
}

function checkShape(where: string, kind: string, info: ValueInfoProto): void {
  const dims = info.type?.tensor_type?.shape?.dim ?? [];
  for (const d of dims) {
    if (d.dim_value == null) continue;
    const value = Long.fromValue(d.dim_value);
    if (value.isNegative() || value.greaterThan(Number.MAX_SAFE_INTEGER)) {
      fail(where, `${kind} "${info.name}" declares dimension ${value.toString()} (dims must be 0 to 2^53)`);
    }
  }
}

/**
 * Ops whose inputs are one variadic list, all required: an empty name there (an omitted optional
 * input elsewhere) is invalid, and ONNX Runtime 1.30 crashes on it (Max/Min/Sum/Mean segfault).
 */
const VARIADIC_REQUIRED = new Set(['Concat', 'Max', 'Min', 'Mean', 'Sum']);

/** Subgraphs nested deeper than this are refused (real models nest a few levels; this keeps recursion bounded). */
const DEEPEST_SUBGRAPH = 64;

/** Checks one graph; `outer` holds the names a subgraph may read from enclosing scopes. */
function validateGraph(graph: GraphProto, where: string, outer: ReadonlySet<string>, depth = 0): void {
  if (depth > DEEPEST_SUBGRAPH) fail(where, `subgraphs are nested more than ${DEEPEST_SUBGRAPH} levels deep`);
  const defined = new Map<string, string>();  // value name -> what defines it
  const define = (name: string, by: string) => {
    const before = defined.get(name);
    if (before !== undefined) fail(where, `value "${name}" is defined twice: as ${before} and as ${by}`);
    defined.set(name, by);
  };
  const initializers = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (!name) fail(where, 'an initializer has no name');
    if (initializers.has(name)) fail(where, `initializer "${name}" appears twice (a graph holds one value per name)`);
    initializers.add(name);
    define(name, `initializer "${name}"`);
  }
  for (const s of graph.sparse_initializer ?? []) define(s.values?.name ?? '', `sparse initializer "${s.values?.name}"`);
  const inputs = new Set<string>();
  for (const input of graph.input ?? []) {
    const name = input.name ?? '';
    if (!name) fail(where, 'a graph input has no name');
    if (inputs.has(name)) fail(where, `graph input "${name}" is listed twice`);
    inputs.add(name);
    checkShape(where, 'graph input', input);
    // an input may share its name with an initializer (IR < 4 lists every initializer; later IRs: a default)
    if (!initializers.has(name)) define(name, `graph input "${name}"`);
  }

  const nodes = graph.node ?? [];
  const producerIndex = new Map<string, number>();
  const names = new Map<string, number>();
  nodes.forEach((node, i) => {
    if (!node.op_type) fail(where, `${nodeLabel(node, i)} has no op_type`);
    if (node.name) {
      const first = names.get(node.name);
      if (first !== undefined) fail(where, `two nodes are named "${node.name}" (#${first} and #${i}); node names must be unique`);
      names.set(node.name, i);
    }
    for (const out of node.output ?? []) {
      if (!out) continue;
      define(out, `the output of ${nodeLabel(node, i)}`);
      producerIndex.set(out, i);
    }
  });

  const visible = (name: string) => defined.has(name) || outer.has(name);
  nodes.forEach((node, i) => {
    if (VARIADIC_REQUIRED.has(node.op_type ?? '') && isDefaultDomain(node) && (node.input ?? []).some((input) => !input)) {
      fail(where, `${nodeLabel(node, i)} has an empty input name; every input of ${node.op_type} is required`);
    }
    for (const input of node.input ?? []) {
      if (!input || visible(input)) {
        const producer = producerIndex.get(input);
        if (producer !== undefined && producer >= i) outOfOrder(where, nodes, i, input, producer);
        continue;
      }
      fail(where, `${nodeLabel(node, i)} reads "${input}", which no node, graph input or initializer produces`);
    }
    for (const attribute of node.attribute ?? []) {
      const subgraphs = [...(attribute.g ? [attribute.g] : []), ...(attribute.graphs ?? [])];
      const scope = new Set([...outer, ...defined.keys()]);
      for (const sub of subgraphs) {
        validateGraph(sub, `subgraph "${attribute.name}" of ${nodeLabel(node, i)} in ${depth ? 'a subgraph' : where}`, scope, depth + 1);
      }
    }
  });
  for (const output of graph.output ?? []) {
    const name = output.name ?? '';
    if (!name) fail(where, 'a graph output has no name');
    if (!visible(name)) fail(where, `graph output "${name}" is produced by no node, graph input or initializer`);
    checkShape(where, 'graph output', output);
  }
}

/**
 * A node reads a value produced at or after it: a cycle when that producer depends on the
 * node, else nodes out of topological order (which ONNX forbids too).
 */
function outOfOrder(where: string, nodes: readonly NodeProto[], reader: number, value: string, producer: number): never {
  const cycle = findCycle(nodes, reader);
  if (cycle) fail(where, `the nodes form a cycle: ${cycle.map((i) => nodeLabel(nodes[i], i)).join(' -> ')}`);
  fail(where, `${nodeLabel(nodes[reader], reader)} reads "${value}" before ${nodeLabel(nodes[producer], producer)} produces it`,
    'ONNX requires nodes in topological order; sort them (e.g. re-save the model with onnx after onnx.checker reports it)');
}

/** A cycle through node `start` (node indexes, in the direction data flows, start first and last), or undefined. */
function findCycle(nodes: readonly NodeProto[], start: number): number[] | undefined {
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => { for (const out of node.output ?? []) if (out) producer.set(out, i); });
  // breadth-first from `start` back along inputs (no recursion: graphs can be deep); a path back to it is a cycle
  const reachedFrom = new Map<number, number>([[start, -1]]);
  for (const queue = [start]; queue.length;) {
    const at = queue.shift()!;
    for (const input of nodes[at].input ?? []) {
      const from = producer.get(input);
      if (from === undefined) continue;
      if (from === start) {
        const path = [start];
        for (let i = at; i !== start; i = reachedFrom.get(i)!) path.push(i);
        return [...path, start];
      }
      if (reachedFrom.has(from)) continue;
      reachedFrom.set(from, at);
      queue.push(from);
    }
  }
  return undefined;
}
