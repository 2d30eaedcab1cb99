/**
 * How convert marks what it inserts, so fold can undo exactly that (no pattern guessing):
 * every inserted node's doc_string is MARKER followed by the JSON spec of its weight.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType, dataTypeName, FLOAT_TYPES } from '../onnx/enums';
import type { Graph } from '../ir/graph';
import { elementCount, tensorDims } from '../tensor/values';
import { WnError } from '../errors';

export const MARKER = 'wn-onnx weight_norm: W = g * v / max(||v||, eps) ';

/** Default floor under ‖v‖: a zero weight vector gives W = 0 instead of NaN (as F.normalize's eps). */
export const DEFAULT_EPS = 1e-12;

/** Who else writes weight norm, by the form of their graphs (src/wn/foreign.ts). */
export type ForeignForm = 'pytorch' | 'keras' | 'generic';

export interface WeightNormSpec {
  /** The reconstructed weight (the original initializer's name). */
  weight: string;
  g: string;
  v: string;
  /** Shape the norm is taken in, and the axes of it that index output features. */
  view: number[];
  keep: number[];
  eps: number;
  /** Weight norm an exporter wrote that convert adopted: its form, and the name fold gives the plain weight. */
  form?: ForeignForm;
  plain?: string;
}

/** The weight's name in reports: the exporter's plain name for adopted weight norm. */
export function weightName(spec: WeightNormSpec): string {
  return spec.plain ?? spec.weight;
}

export function specDocString(spec: WeightNormSpec): string {
  return MARKER + JSON.stringify(spec);
}

/**
 * What follows `marker` in a node's doc_string, parsed: undefined where the node carries no such
 * mark, { json: undefined } where what follows is not JSON.
 */
export function readMark(node: NodeProto, marker: string): { json: unknown } | undefined {
  const doc = node.doc_string ?? '';
  if (!doc.startsWith(marker)) return undefined;
  try {
    return { json: JSON.parse(doc.slice(marker.length)) };
  } catch {
    return { json: undefined };
  }
}

/** The spec a node carries, or undefined for a node convert did not insert; a damaged spec is an error. */
export function nodeSpec(node: NodeProto): WeightNormSpec | undefined {
  const mark = readMark(node, MARKER);
  if (!mark) return undefined;
  const spec = mark.json as WeightNormSpec | undefined;
  const problem = spec ? specProblem(spec) : 'it is not JSON';
  if (problem) throw new WnError(`node "${node.name}": its wn-onnx weight_norm mark is damaged (${problem}); re-run convert on the original model`);
  return spec;
}

const isName = (x: unknown) => typeof x === 'string' && x.length > 0;
const isDim = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 0;

/** What is wrong with a spec's fields on their own, or undefined. */
function specProblem(spec: WeightNormSpec): string | undefined {
  if (typeof spec !== 'object' || spec === null) return 'it is not an object';
  if (!isName(spec.weight) || !isName(spec.g) || !isName(spec.v)) return 'weight, g and v must be names';
  if (!Array.isArray(spec.view) || !spec.view.length || !spec.view.every(isDim)) {
    return `view ${JSON.stringify(spec.view)} is not a list of positive integers`;
  }
  const { keep } = spec;
  if (!Array.isArray(keep) || !keep.every((a, i) => Number.isInteger(a) && a >= 0 && a < spec.view.length && keep.indexOf(a) === i)) {
    return `keep ${JSON.stringify(keep)} is not a list of distinct axes of the view`;
  }
  if (typeof spec.eps !== 'number' || !Number.isFinite(spec.eps) || spec.eps < 0) {
    return `eps ${JSON.stringify(spec.eps)} is not a non-negative number`;
  }
  if (spec.plain !== undefined && !isName(spec.plain)) return 'plain must be a name';
  return undefined;
}

/**
 * Checks every wn-onnx mark of a graph against the tensors it describes: the nodes of one weight
 * carry one spec, and where g and v are initializers, v holds the view's elements and g one
 * value per kept feature, in a floating-point type.
 */
export function checkWeightNormMarks(graph: Graph): void {
  for (const { spec, nodes } of weightNormGroups(graph.nodes).values()) {
    // convert writes one doc_string for all the nodes of a weight: compared as text, not parsed again
    const other = nodes.find((n) => n.doc_string !== nodes[0].doc_string);
    const where = `weight-norm mark of "${spec.weight}" (node "${nodes[0].name}")`;
    if (other) throw new WnError(`${where}: node "${other.name}" of the same weight carries another spec; re-run convert on the original model`);
    for (const [role, name, dims] of [['v', spec.v, spec.view], ['g', spec.g, gShape(spec.view, spec.keep)]] as const) {
      const t = graph.initializer(name);
      if (!t) continue;
      const count = elementCount(tensorDims(t));
      if (count !== elementCount(dims) || !FLOAT_TYPES.has(t.data_type ?? 0)) {
        const holds = `[${tensorDims(t)}] of ${dataTypeName(t.data_type ?? 0)}`;
        const fix = 're-run convert on the original model';
        throw new WnError(`${where}: ${role} "${name}" is ${holds}, but the mark describes [${dims}] floating point; ${fix}`);
      }
    }
  }
}

/** Weight-norm groups of a graph: spec and inserted nodes, by weight name, in graph order. */
export function weightNormGroups(nodes: readonly NodeProto[]): Map<string, { spec: WeightNormSpec; nodes: NodeProto[] }> {
  const groups = new Map<string, { spec: WeightNormSpec; nodes: NodeProto[] }>();
  for (const node of nodes) {
    const spec = nodeSpec(node);
    if (!spec) continue;
    const group = groups.get(spec.weight);
    if (group) group.nodes.push(node);
    else groups.set(spec.weight, { spec, nodes: [node] });
  }
  return groups;
}

/** The type the marked nodes compute in: float32 for half-precision v, else v's own. */
export function computeType(vType: DataType): DataType {
  return vType === DataType.FLOAT16 || vType === DataType.BFLOAT16 ? DataType.FLOAT : vType;
}

/** The norm's shape: the view with every normalized axis set to 1 (PyTorch's weight_g shape). */
export function gShape(view: readonly number[], keep: readonly number[]): number[] {
  return view.map((d, axis) => (keep.includes(axis) ? d : 1));
}
