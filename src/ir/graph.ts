/**
 * The main graph as an editable IR over its GraphProto.
 *
 * Invariants kept here: every value has at most one producer (a node output, a graph input or
 * an initializer); node outputs are fixed when a node is added; a node or initializer that is
 * still used cannot be removed. Producer/consumer indexes are rebuilt lazily after edits.
 * Subgraphs (If/Loop/Scan bodies) stay protos; the names they take from the outer scope count
 * as uses, so a value they read is never dropped or renamed under them.
 */
import type { GraphProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from '../onnx/proto';
import { WnError } from '../errors';

export class Graph {
  private index?: { producers: Map<string, NodeProto>; consumers: Map<string, NodeProto[]>; initializers: Map<string, TensorProto>; taken?: Set<string> };

  constructor(readonly proto: GraphProto) {
    proto.node ??= [];
    proto.initializer ??= [];
    proto.input ??= [];
    proto.output ??= [];
    proto.value_info ??= [];
  }

  get nodes(): readonly NodeProto[] { return this.proto.node!; }
  get inputs(): ValueInfoProto[] { return this.proto.input!; }
  get outputs(): ValueInfoProto[] { return this.proto.output!; }
  get initializers(): readonly TensorProto[] { return this.proto.initializer!; }

  private built() {
    if (this.index) return this.index;
    const producers = new Map<string, NodeProto>();
    const consumers = new Map<string, NodeProto[]>();
    const initializers = new Map<string, TensorProto>();
    for (const t of this.initializers) initializers.set(t.name ?? '', t);
    for (const node of this.nodes) {
      for (const out of node.output ?? []) if (out) producers.set(out, node);
      for (const name of new Set([...(node.input ?? []), ...outerScopeNames(node)])) {
        if (!name) continue;
        const list = consumers.get(name);
        if (list) list.push(node);
        else consumers.set(name, [node]);
      }
    }
    this.index = { producers, consumers, initializers };
    return this.index;
  }

  private changed(): void { this.index = undefined; }

  producer(name: string): NodeProto | undefined { return this.built().producers.get(name); }
  consumers(name: string): readonly NodeProto[] { return this.built().consumers.get(name) ?? []; }
  initializer(name: string): TensorProto | undefined { return this.built().initializers.get(name); }
  isGraphOutput(name: string): boolean { return this.outputs.some((o) => o.name === name); }
  graphInputIndex(name: string): number { return this.inputs.findIndex((i) => i.name === name); }

  /** A name not yet used by any value, node or initializer: `base`, else `base_1`, `base_2`, … */
  uniqueName(base: string): string {
    // built once per edit, not per call: convert asks for several names per weight
    const index = this.built();
    const taken = (index.taken ??= this.takenNames());
    if (!taken.has(base)) return base;
    for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
  }

  private takenNames(): Set<string> {
    const taken = new Set<string>();
    for (const node of this.nodes) {
      if (node.name) taken.add(node.name);
      for (const n of [...(node.input ?? []), ...(node.output ?? [])]) taken.add(n);
    }
    for (const v of [...this.inputs, ...this.outputs, ...this.proto.value_info!]) taken.add(v.name ?? '');
    for (const t of this.initializers) taken.add(t.name ?? '');
    return taken;
  }

  addInitializer(tensor: TensorProto): void {
    const name = tensor.name ?? '';
    if (this.initializer(name) || this.producer(name)) throw new WnError(`internal: value "${name}" already has a producer`);
    this.proto.initializer!.push(tensor);
    this.changed();
  }

  /**
   * Puts tensors where initializer `name` stood (same position in the list). The value `name`
   * itself may go on being read: the caller makes something else produce it.
   */
  replaceInitializer(name: string, replacements: TensorProto[]): void {
    const list = this.proto.initializer!;
    const at = list.findIndex((t) => t.name === name);
    if (at < 0) throw new WnError(`internal: no initializer "${name}"`);
    list.splice(at, 1, ...replacements);
    this.changed();
  }

  /** Removes an initializer nobody reads any more (and its graph input entry, for IR < 4 models). */
  removeInitializer(name: string): void {
    if (this.consumers(name).length || this.isGraphOutput(name)) throw new WnError(`internal: initializer "${name}" is still used`);
    this.proto.initializer = this.proto.initializer!.filter((t) => t.name !== name);
    this.changed();
  }

  /** Inserts nodes at `position` (default: the start, before every node that could read them). */
  insertNodes(nodes: NodeProto[], position = 0): void {
    for (const node of nodes) {
      for (const out of node.output ?? []) {
        if (this.producer(out) || this.initializer(out) || this.graphInputIndex(out) >= 0) {
          throw new WnError(`internal: value "${out}" already has a producer`);
        }
      }
    }
    this.proto.node!.splice(position, 0, ...nodes);
    this.changed();
  }

  /**
   * Removes nodes whose outputs are no longer read, except by the other removed nodes or where
   * listed in `producedElsewhere` (the caller makes something else produce those values).
   */
  removeNodes(nodes: readonly NodeProto[], producedElsewhere: readonly string[] = []): void {
    const removing = new Set(nodes);
    for (const node of nodes) {
      for (const out of node.output ?? []) {
        if (producedElsewhere.includes(out)) continue;
        const outside = this.consumers(out).filter((c) => !removing.has(c));
        if (outside.length || this.isGraphOutput(out)) throw new WnError(`internal: output "${out}" of node "${node.name}" is still used`);
      }
    }
    this.proto.node = this.proto.node!.filter((n) => !removing.has(n));
    this.changed();
  }

  /**
   * Removes those of `nodes` whose outputs nobody reads any more, repeatedly (a node read only by
   * removed nodes goes too), then the initializers only the removed nodes read, with their graph
   * input entries (IR < 4 lists them). What is still read, or a graph output, stays.
   */
  removeUnused(nodes: readonly NodeProto[]): void {
    const candidates = new Set(nodes);
    const read = new Set<string>();
    for (let removed = true; removed;) {
      removed = false;
      for (const node of candidates) {
        if ((node.output ?? []).some((o) => o && (this.consumers(o).length || this.isGraphOutput(o)))) continue;
        for (const input of node.input ?? []) read.add(input);
        this.proto.node = this.proto.node!.filter((n) => n !== node);
        candidates.delete(node);
        this.changed();
        removed = true;
      }
    }
    const unused = [...read].filter((name) => this.initializer(name) && !this.consumers(name).length && !this.isGraphOutput(name));
    if (!unused.length) return;
    this.proto.initializer = this.proto.initializer!.filter((t) => !unused.includes(t.name ?? ''));
    this.removeGraphInputs(new Set(unused));
  }

  /** Puts `replacement` where `node` was, for callers that must not mutate a node they may share with another graph. */
  replaceNode(node: NodeProto, replacement: NodeProto): void {
    const at = this.proto.node!.indexOf(node);
    if (at < 0) throw new WnError(`internal: node "${node.name}" is not in the graph`);
    this.proto.node![at] = replacement;
    this.changed();
  }

  /**
   * `reader` replaced by a copy that reads `to` where it read `from`: the node itself, which a
   * copied graph may share, stays as it was.
   */
  redirectInput(reader: NodeProto, from: string, to: string): void {
    this.replaceNode(reader, { ...reader, input: reader.input!.map((v) => (v === from ? to : v)) });
  }

  /** Points one input of a node at another value. */
  setNodeInput(node: NodeProto, index: number, name: string): void {
    node.input ??= [];
    while (node.input.length < index) node.input.push('');
    node.input[index] = name;
    this.changed();
  }

  /** Renames one output of a node (its readers must be pointed at the new name, or at a new producer of the old one). */
  setNodeOutput(node: NodeProto, index: number, name: string): void {
    node.output![index] = name;
    this.changed();
  }

  /** Replaces one graph input by others at the same position (IR < 4 lists initializers as inputs). */
  replaceGraphInput(name: string, replacements: ValueInfoProto[]): void {
    const at = this.graphInputIndex(name);
    if (at < 0) return;
    this.inputs.splice(at, 1, ...replacements);
    this.changed();
  }

  appendGraphInputs(infos: ValueInfoProto[]): void {
    this.inputs.push(...infos);
    this.changed();
  }

  /** Removes graph inputs by name (initializers listed as inputs, IR < 4). */
  removeGraphInputs(names: ReadonlySet<string>): void {
    this.proto.input = this.inputs.filter((i) => !names.has(i.name ?? ''));
    this.changed();
  }

  /** Drops value_info entries for values that no longer exist. */
  pruneValueInfo(): void {
    const alive = (name: string) => !!(this.producer(name) || this.initializer(name) || this.graphInputIndex(name) >= 0);
    this.proto.value_info = this.proto.value_info!.filter((v) => alive(v.name ?? ''));
  }
}

/** A tensor value's declared type, for graph inputs made from initializers. */
export function tensorValueInfo(name: string, elemType: number, dims: readonly number[]): ValueInfoProto {
  const type: TypeProto = { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => ({ dim_value: d })) } } };
  return { name, type };
}

/** Whether a node is a standard ONNX op ('' and 'ai.onnx' both name the default domain). */
export function isDefaultDomain(node: NodeProto): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

/** Names a node's subgraphs read from enclosing scopes. */
export function outerScopeNames(node: NodeProto): string[] {
  const graphs = (node.attribute ?? []).flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
  if (!graphs.length) return [];
  const names = new Set<string>();
  for (const g of graphs) for (const n of freeNames(g)) names.add(n);
  return [...names];
}

function freeNames(graph: GraphProto): Set<string> {
  const defined = new Set<string>([
    ...(graph.input ?? []).map((i) => i.name ?? ''),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
    ...(graph.sparse_initializer ?? []).map((s) => s.values?.name ?? ''),
  ]);
  const free = new Set<string>();
  for (const node of graph.node ?? []) {
    for (const name of [...(node.input ?? []), ...outerScopeNames(node)]) if (name && !defined.has(name)) free.add(name);
    for (const out of node.output ?? []) defined.add(out);
  }
  for (const out of graph.output ?? []) if (out.name && !defined.has(out.name)) free.add(out.name);
  return free;
}
