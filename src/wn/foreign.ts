/**
 * Weight norm as other tools write it: a layer weight computed in the graph as W = g · v / ‖v‖
 * from constant g and v, recognized by structure whatever the op order, then proved
 * numerically before fold or convert touches it.
 *
 * Structure (matchForeignWeightNorm): W's value is taken apart into factors through Mul, Div,
 * Reciprocal, Identity and Cast. Its factors must be exactly
 *   - the direction v: a constant (initializer or Constant), also the only tensor the norm reads;
 *   - one gain g: a constant, reshaped, unsqueezed, expanded or cast on its way in (a scalar is
 *     PyTorch's dim=None); constants equal to 1 (Div(1, ·)) are not factors;
 *   - one norm of v in the denominator: ReduceL2(v), Sqrt(ReduceSum(v·v)), Sqrt(ReduceSumSquare(v)),
 *     Pow(·, 0.5), with an optional floor Max/Clip on the norm or on the squared sum
 *     (l2_normalize); or instead of the norm and v, LpNormalization(v, p=2).
 * Forms, for reports: 'pytorch' (the TorchScript exporter's Mul(Div(v, ReduceL2(v)), g)),
 * 'keras' (tf2onnx's l2_normalize: a floor on the squared sum), 'generic' (anything else).
 *
 * Proof (verifyForeignWeightNorm): the subgraph is evaluated (src/ir/evaluate.ts) and must equal
 * g·v/max(‖v‖, eps) with the norm over every axis where g is 1 (the axes the exporter chose:
 * PyTorch's ConvTranspose default normalizes per input channel). A norm over other axes, a
 * direction without g (a cosine classifier), a non-constant input (a normalized activation):
 * not weight norm, left alone.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType, FLOAT_TYPES } from '../onnx/enums';
import { isDefaultDomain, type Graph } from '../ir/graph';
import type { Model } from '../ir/model';
import { EVALUATED_OPS, Evaluator, type Evaluated } from '../ir/evaluate';
import { intAttribute } from '../ir/attributes';
import { featureNorms, scaleFeatures } from '../tensor/norms';
import { elementCount, tensorDims } from '../tensor/values';
import { WnError } from '../errors';
import { chainAxisMap, layoutOnSource, type ComputedWeight, type WeightSlot } from './layers';
import type { ForeignForm } from './spec';

export interface ForeignWeightNorm {
  form: ForeignForm;
  /** The value the product computes: W in v's layout. */
  weight: string;
  /** The direction and the gain as constants (initializer or Constant output names). */
  v: string;
  g: string;
  /** Where g enters the product (after its reshapes and casts). */
  gEntry: string;
  /** Floor under ‖v‖ (0: none). */
  eps: number;
  /** Every node W depends on (what fold and convert replace, where nothing else reads it). */
  nodes: NodeProto[];
}

export interface VerifiedWeightNorm extends ForeignWeightNorm {
  dims: number[];
  /** Axes of W indexing its weight vectors (g has their size there, 1 elsewhere). */
  keep: number[];
  /** g per weight vector, and ‖v‖ per weight vector. */
  gains: Float64Array;
  norms: Float64Array;
  /** W as the graph computes it, and the evaluator that computed it (for what W feeds). */
  values: Evaluated;
  evaluator: Evaluator;
}

type Rejected = { reason: string };

const PASS = new Set(['Identity', 'Cast']);
const RESHAPING = new Set(['Reshape', 'Unsqueeze', 'Squeeze', 'Expand']);
const NORM_OPS = new Set(['ReduceL2', 'ReduceSum', 'ReduceSumSquare', 'Sqrt', 'Pow', 'Max', 'Clip']);

interface Factor { sign: 1 | -1; kind: 'constant' | 'norm' | 'direction'; entry: string; source: string }

function isConstant(graph: Graph, name: string): boolean {
  return !!graph.initializer(name) || graph.producer(name)?.op_type === 'Constant';
}

/**
 * The nodes `name` depends on: undefined when a graph input feeds it (an activation, not a
 * weight); `unevaluated` names an op wn-onnx cannot evaluate.
 */
function constantCone(graph: Graph, name: string): { nodes: NodeProto[]; unevaluated?: NodeProto } | undefined {
  const nodes = new Set<NodeProto>();
  let unevaluated: NodeProto | undefined;
  const stack = [name];
  while (stack.length) {
    const value = stack.pop()!;
    if (!value || graph.initializer(value)) continue;
    const node = graph.producer(value);
    if (!node) return undefined;
    if (nodes.has(node)) continue;
    if (!isDefaultDomain(node) || !EVALUATED_OPS.has(node.op_type ?? '')) unevaluated ??= node;
    nodes.add(node);
    stack.push(...(node.input ?? []));
  }
  return { nodes: [...nodes], unevaluated };
}

/** What a reshaping or passing chain below `name` ends at: a constant, a norm, LpNormalization, or a product (refused). */
function factorBelowReshapes(graph: Graph, name: string, sign: 1 | -1): Factor | Rejected {
  for (let current = name; ;) {
    if (isConstant(graph, current)) return { sign, kind: 'constant', entry: name, source: current };
    const node = graph.producer(current)!;
    const op = node.op_type ?? '';
    if (op === 'LpNormalization') return { sign, kind: 'direction', entry: name, source: current };
    if (NORM_OPS.has(op)) return { sign, kind: 'norm', entry: name, source: current };
    if (!PASS.has(op) && !RESHAPING.has(op)) return { reason: `${op} node "${node.name}" takes part in it (weight norm is a product of g, v and 1/‖v‖)` };
    current = node.input![0];
  }
}

/** W's factors with their signs (+1 numerator, −1 denominator). */
function factorsOf(graph: Graph, name: string, sign: 1 | -1, out: Factor[]): Rejected | undefined {
  if (isConstant(graph, name)) {
    out.push({ sign, kind: 'constant', entry: name, source: name });
    return undefined;
  }
  const node = graph.producer(name)!;
  const [a, b] = node.input ?? [];
  switch (node.op_type) {
    case 'Mul': return factorsOf(graph, a, sign, out) ?? factorsOf(graph, b, sign, out);
    case 'Div': return factorsOf(graph, a, sign, out) ?? factorsOf(graph, b, sign === 1 ? -1 : 1, out);
    case 'Reciprocal': return factorsOf(graph, a, sign === 1 ? -1 : 1, out);
    case 'Identity': case 'Cast': return factorsOf(graph, a, sign, out);
    default: {
      const factor = factorBelowReshapes(graph, name, sign);
      if ('reason' in factor) return factor;
      out.push(factor);
      return undefined;
    }
  }
}

/** The element type and dims of a constant (initializer or Constant node). */
function constantTensor(graph: Graph, name: string): { type: number; dims: number[] } {
  const t = graph.initializer(name) ?? graph.producer(name)?.attribute?.find((a) => a.name === 'value')?.t;
  if (t) return { type: t.data_type ?? 0, dims: tensorDims(t) };
  const scalarFloat = graph.producer(name)?.attribute?.some((a) => a.name === 'value_float' || a.name === 'value_floats');
  return { type: scalarFloat ? DataType.FLOAT : DataType.INT64, dims: [] };
}

/** The floating-point constants a value depends on (shape and axes inputs are integers, not these). */
function floatLeaves(graph: Graph, name: string): Set<string> {
  const leaves = new Set<string>();
  const stack = [name];
  const seen = new Set<string>();
  while (stack.length) {
    const value = stack.pop()!;
    if (!value || seen.has(value)) continue;
    seen.add(value);
    if (isConstant(graph, value)) {
      if (FLOAT_TYPES.has(constantTensor(graph, value).type)) leaves.add(value);
      continue;
    }
    stack.push(...(graph.producer(value)?.input ?? []));
  }
  return leaves;
}

function constantValue(graph: Graph, opset: number, name: string): Evaluated {
  return new Evaluator(graph, opset).value(name);
}

const isOne = (e: Evaluated) => e.data.length === 1 && e.data[0] === 1;

/** The floor under ‖v‖ in a norm expression: Max/Clip on the norm (eps), or on the squared sum (√eps). */
function normFloor(graph: Graph, opset: number, norm: string): number {
  const node = graph.producer(norm);
  if (!node) return 0;
  const op = node.op_type ?? '';
  if (op === 'Max' || op === 'Clip') {
    const inputs = node.input ?? [];
    const data = inputs.find((i) => i && !isConstant(graph, i)) ?? '';
    const floor = inputs.find((i) => i && isConstant(graph, i));
    const bound = op === 'Clip' && opset < 11 ? node.attribute?.find((a) => a.name === 'min')?.f ?? 0
      : floor ? constantValue(graph, opset, floor).data[0] : 0;
    const squared = ['ReduceSum', 'ReduceSumSquare'].includes(graph.producer(data)?.op_type ?? '');
    return Math.max(squared ? Math.sqrt(bound) : bound, normFloor(graph, opset, data));
  }
  if (['Sqrt', 'Pow', 'Identity', 'Cast', 'ReduceL2', 'ReduceSum', 'ReduceSumSquare'].includes(op)) return normFloor(graph, opset, node.input![0]);
  return 0;
}

/** The TorchScript exporter's form: Mul(Div(v, ReduceL2(v)), g), either operand order, no floor. */
function isPytorchForm(graph: Graph, weight: string, v: string, eps: number): boolean {
  const mul = graph.producer(weight);
  if (mul?.op_type !== 'Mul' || eps) return false;
  const div = (mul.input ?? []).map((i) => graph.producer(i)).find((n) => n?.op_type === 'Div');
  const norm = div && graph.producer(div.input?.[1] ?? '');
  return div?.input?.[0] === v && norm?.op_type === 'ReduceL2' && norm.input?.[0] === v;
}

/**
 * Whether `name` (a layer's weight after its layout chain) is weight norm another tool wrote:
 * the match, why it is not (when it looks like one), or undefined (nothing like weight norm).
 */
function matchForeignWeightNorm(graph: Graph, opset: number, name: string): ForeignWeightNorm | Rejected | undefined {
  const producer = graph.producer(name);
  if (!producer || !['Mul', 'Div', 'LpNormalization'].includes(producer.op_type ?? '')) return undefined;
  const cone = constantCone(graph, name);
  if (!cone || !cone.nodes.some((n) => NORM_OPS.has(n.op_type ?? '') || n.op_type === 'LpNormalization')) return undefined;
  if (cone.unevaluated) {
    const { op_type: op, name: node } = cone.unevaluated;
    return { reason: `it is computed from constants with ${op} node "${node}", which wn-onnx does not evaluate` };
  }
  const factors: Factor[] = [];
  const refused = factorsOf(graph, name, 1, factors);
  if (refused) return refused;
  const directions = factors.filter((f) => f.kind === 'direction');
  const norms = factors.filter((f) => f.kind === 'norm');
  if (factors.some((f) => f.kind !== 'constant' && f.sign === (f.kind === 'norm' ? 1 : -1))) {
    return { reason: 'a norm multiplies the weight instead of dividing it' };
  }
  let v: string;
  if (directions.length === 1 && !norms.length) {
    const node = graph.producer(directions[0].source)!;
    if (intAttribute(node, 'p', 2) !== 2) return { reason: 'it normalizes with an L1 norm (LpNormalization p=1)' };
    const [leaf, ...others] = [...floatLeaves(graph, directions[0].source)];
    if (!leaf || others.length) return { reason: 'its LpNormalization reads more than one constant' };
    v = leaf;
  } else if (norms.length === 1 && !directions.length) {
    const inNorm = [...floatLeaves(graph, norms[0].source)].filter((l) => elementCount(constantTensor(graph, l).dims) > 1);
    if (inNorm.length !== 1) return { reason: 'its norm reads more than one tensor' };
    v = inNorm[0];
  } else {
    return { reason: `it has ${norms.length + directions.length} norms; weight norm has one` };
  }
  const numerator = factors.filter((f) => f.kind === 'constant' && f.sign === 1 && f.source !== v);
  if (directions.length === 0 && !factors.some((f) => f.kind === 'constant' && f.sign === 1 && f.source === v)) {
    return { reason: `the tensor its norm reads ("${v}") is not a factor of the weight` };
  }
  if (factors.some((f) => f.kind === 'constant' && f.sign === -1)) return { reason: 'a constant divides the weight' };
  const gains = numerator.filter((f) => !isOne(constantValue(graph, opset, f.source)));
  if (!gains.length) return { reason: 'it is v/‖v‖ without a gain g (a normalized direction, as a cosine classifier has): not weight norm' };
  if (gains.length > 1) return { reason: `it has ${gains.length} gains; weight norm has one` };
  const eps = norms.length ? normFloor(graph, opset, norms[0].source) : 0;
  const form: ForeignForm = isPytorchForm(graph, name, v, eps) ? 'pytorch'
    : cone.nodes.some((n) => ['Max', 'Clip'].includes(n.op_type ?? '') && ['ReduceSum', 'ReduceSumSquare'].includes(graph.producer(n.input?.[0] ?? '')?.op_type ?? '')) ? 'keras'
      : 'generic';
  return { form, weight: name, v, g: gains[0].source, gEntry: gains[0].entry, eps, nodes: cone.nodes };
}

/** Allowed |graph − formula| relative to the largest weight, by the weight's element type. */
const TOLERANCE: Partial<Record<DataType, number>> = {
  [DataType.DOUBLE]: 1e-9, [DataType.FLOAT]: 1e-6, [DataType.FLOAT16]: 2e-3, [DataType.BFLOAT16]: 1.6e-2,
};

/**
 * The numeric proof: the matched subgraph, evaluated, equals g·v/max(‖v‖, eps) with the norm
 * over the axes where g is 1. `featureAxes` (the layer's own) settles axes of size 1.
 */
function verifyForeignWeightNorm(graph: Graph, opset: number, match: ForeignWeightNorm, featureAxes: readonly number[] = []): VerifiedWeightNorm | Rejected {
  const evaluator = new Evaluator(graph, opset);
  let values: Evaluated, v: Evaluated, g: Evaluated;
  try {
    [values, v, g] = [evaluator.value(match.weight), evaluator.value(match.v), evaluator.value(match.gEntry)];
  } catch (e) {
    if (e instanceof WnError) return { reason: e.message };
    throw e;
  }
  const dims = values.dims;
  if (v.dims.join() !== dims.join()) return { reason: `its direction "${match.v}" has shape [${v.dims}], the weight [${dims}]` };
  if (g.dims.length > dims.length) return { reason: `its gain "${match.g}" has more axes than the weight` };
  const gDims = [...new Array<number>(dims.length - g.dims.length).fill(1), ...g.dims];
  const keep: number[] = [];
  for (let a = 0; a < dims.length; a++) {
    if (gDims[a] === dims[a] && (dims[a] > 1 || featureAxes.includes(a))) keep.push(a);
    else if (gDims[a] !== 1) return { reason: `its gain "${match.g}" of shape [${g.dims}] does not broadcast to one value per weight vector of [${dims}]` };
  }
  const norms = featureNorms(v.data, dims, keep);
  const scale = norms.map((n, f) => g.data[f] / Math.max(n, match.eps));
  const formula = Float64Array.from(v.data);
  scaleFeatures(formula, dims, keep, scale);
  let largest = 0;
  let worst = 0;
  for (let i = 0; i < formula.length; i++) {
    largest = Math.max(largest, Math.abs(formula[i]));
    const d = Math.abs(formula[i] - values.data[i]);
    if (!(d <= worst)) worst = d;
  }
  const tolerance = (TOLERANCE[values.type] ?? 1e-6) * largest;
  if (!(worst <= tolerance)) {
    const reduced = dims.map((_, a) => a).filter((a) => !keep.includes(a));
    return { reason: `it does not compute g·v/max(‖v‖, ${match.eps}) with the norm over axes [${reduced}] (largest difference ${worst.toExponential(2)}): left alone` };
  }
  return { ...match, dims, keep, gains: g.data, norms, values, evaluator };
}

/** The plain weight's name for a folded g and v: PyTorch's `conv.weight` from `conv.weight_g`/`_v` or a parametrization. */
export function plainWeightName(v: string): string {
  const parametrized = /^(.*)\.parametrizations\.([^.]+)\.original[01]$/.exec(v);
  if (parametrized) return `${parametrized[1]}.${parametrized[2]}`;
  const suffixed = /^(.*?)(?:_v|[./]v)$/.exec(v);
  return suffixed ? suffixed[1] : `${v}_folded`;
}

/**
 * The foreign weight norm a layer's weight slot reads, proved; why not when it looks like weight
 * norm and is not; undefined when it does not look like weight norm at all.
 */
export function foreignWeightNorm(model: Model, traced: ComputedWeight, slot: WeightSlot): VerifiedWeightNorm | Rejected | undefined {
  const graph = model.graph;
  const opset = model.opset();
  const match = matchForeignWeightNorm(graph, opset, traced.value);
  if (!match || 'reason' in match) return match;
  const vDims = constantTensor(graph, match.v).dims;
  const transposed = traced.chain.some((n) => n.op_type === 'Transpose');
  const layout = layoutOnSource(vDims, chainAxisMap(traced.chain, vDims.length), transposed, slot);
  // the layer's own feature axes settle the axes of size 1 (a Conv with one output channel)
  const featureAxes = typeof layout === 'string' || layout.view.length !== vDims.length ? [] : layout.keep;
  return verifyForeignWeightNorm(graph, opset, match, featureAxes);
}
