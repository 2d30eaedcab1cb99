/**
 * How convert marks what it inserts, so fold can undo exactly that (no pattern guessing):
 * every inserted node's doc_string is MARKER followed by the JSON spec of its weight.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
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

/** The spec a node carries, or undefined for a node convert did not insert. */
export function nodeSpec(node: NodeProto): WeightNormSpec | undefined {
  const doc = node.doc_string ?? '';
  if (!doc.startsWith(MARKER)) return undefined;
  try {
    const spec = JSON.parse(doc.slice(MARKER.length)) as WeightNormSpec;
    if (typeof spec.weight === 'string' && typeof spec.g === 'string' && typeof spec.v === 'string'
      && Array.isArray(spec.view) && Array.isArray(spec.keep) && typeof spec.eps === 'number') return spec;
  } catch { /* reported below */ }
  throw new WnError(`node "${node.name}": its wn-onnx weight_norm doc_string is damaged; re-run convert on the original model`);
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
