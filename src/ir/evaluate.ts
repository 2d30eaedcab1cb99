/**
 * Evaluates values of a graph that depend only on constants (initializers and Constant nodes),
 * in float64, with ONNX's semantics for the ops weight norm is written with: elementwise
 * arithmetic with numpy broadcasting, reductions, shape ops, Cast, Clip, LpNormalization. What
 * it is for: proving numerically that a subgraph computes what a recognizer says it computes,
 * and folding such a subgraph into a constant, without a runtime.
 *
 * Values are memoized per Evaluator, so evaluating a weight and then the Transpose of it costs
 * one evaluation. A value fed by a graph input, or computed by an op not listed here, is an
 * error naming the op.
 */
import type { NodeProto, TensorProto } from '../onnx/proto';
import { DataType, FLOAT_TYPES } from '../onnx/enums';
import { toNumber } from '../onnx/int64';
import { WnError } from '../errors';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from '../tensor/dtype';
import { elementCount, readFloats, readInts, tensorDims } from '../tensor/values';
import { attribute, floatAttribute, intAttribute, intsAttribute } from './attributes';
import { isDefaultDomain, type Graph } from './graph';

/** A value: row-major float64 data, its dims and element type. */
export interface Evaluated { dims: number[]; data: Float64Array; type: DataType }

/** Ops the evaluator knows. */
export const EVALUATED_OPS: ReadonlySet<string> = new Set([
  'Constant', 'Identity', 'Cast', 'Mul', 'Div', 'Add', 'Sub', 'Max', 'Min', 'Pow', 'Reciprocal', 'Sqrt', 'Neg', 'Abs',
  'ReduceL2', 'ReduceSum', 'ReduceSumSquare', 'ReduceMean', 'Clip', 'Reshape', 'Unsqueeze', 'Squeeze', 'Expand',
  'Transpose', 'LpNormalization',
]);

export function tensorValue(t: TensorProto): Evaluated {
  const type = (t.data_type ?? 0) as DataType;
  const values = FLOAT_TYPES.has(type) ? readFloats(t) : readInts(t);
  return { dims: tensorDims(t), data: Float64Array.from(values), type };
}

/** An elementwise kernel over one run: out[o + k] = f(a[ia + k·sa], b[ib + k·sb]) for k < n. */
type Kernel = (out: Float64Array, o: number, a: Float64Array, ia: number, sa: number, b: Float64Array, ib: number, sb: number, n: number) => void;

// one small function per op, so each inner loop is monomorphic (no call per element)
const KERNELS: Record<string, Kernel> = {
  Mul: (out, o, a, ia, sa, b, ib, sb, n) => { for (let k = 0; k < n; k++) out[o + k] = a[ia + k * sa] * b[ib + k * sb]; },
  Div: (out, o, a, ia, sa, b, ib, sb, n) => { for (let k = 0; k < n; k++) out[o + k] = a[ia + k * sa] / b[ib + k * sb]; },
  Add: (out, o, a, ia, sa, b, ib, sb, n) => { for (let k = 0; k < n; k++) out[o + k] = a[ia + k * sa] + b[ib + k * sb]; },
  Sub: (out, o, a, ia, sa, b, ib, sb, n) => { for (let k = 0; k < n; k++) out[o + k] = a[ia + k * sa] - b[ib + k * sb]; },
  Pow: (out, o, a, ia, sa, b, ib, sb, n) => { for (let k = 0; k < n; k++) out[o + k] = a[ia + k * sa] ** b[ib + k * sb]; },
  Max: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let k = 0; k < n; k++) { const x = a[ia + k * sa], y = b[ib + k * sb]; out[o + k] = x >= y || Number.isNaN(x) ? x : y; }
  },
  Min: (out, o, a, ia, sa, b, ib, sb, n) => {
    for (let k = 0; k < n; k++) { const x = a[ia + k * sa], y = b[ib + k * sb]; out[o + k] = x <= y || Number.isNaN(x) ? x : y; }
  },
};

const UNARY: Record<string, (a: number) => number> = {
  Identity: (a) => a, Reciprocal: (a) => 1 / a, Sqrt: Math.sqrt, Neg: (a) => -a, Abs: Math.abs,
};

/** numpy broadcasting of two shapes, or undefined when they do not broadcast. */
function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of a row-major tensor of `dims` as read along `out` (right-aligned; 0 along broadcast axes). */
function broadcastStrides(dims: readonly number[], out: readonly number[]): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const axis = out.length - dims.length + i;
    strides[axis] = dims[i] === 1 ? 0 : stride;
    stride *= dims[i];
  }
  return strides;
}

/**
 * Walks the index space `dims` row-major in runs along its last axis, for several operands
 * read with their own strides: visit(offsets, length, innerStrides) once per run. Neighbouring
 * axes every operand reads contiguously (or broadcasts) are merged first, so runs are long.
 */
function forEachRun(dims: readonly number[], strides: readonly number[][], visit: (offsets: number[], length: number, inner: number[]) => void): void {
  const merged: number[] = [];
  const mergedStrides: number[][] = strides.map(() => []);
  dims.forEach((d, axis) => {
    const last = merged.length - 1;
    if (last >= 0 && strides.every((s, k) => mergedStrides[k][last] === s[axis] * d)) {
      merged[last] *= d;
      strides.forEach((s, k) => { mergedStrides[k][last] = s[axis]; });
    } else {
      merged.push(d);
      strides.forEach((s, k) => mergedStrides[k].push(s[axis]));
    }
  });
  if (!merged.length || merged.some((d) => d === 0)) {
    if (!merged.length) visit(strides.map(() => 0), 1, strides.map(() => 0));
    return;
  }
  const rank = merged.length;
  const length = merged[rank - 1];
  const inner = mergedStrides.map((s) => s[rank - 1]);
  const offsets = strides.map(() => 0);
  const index = new Array<number>(rank).fill(0);
  const runs = elementCount(merged) / length;
  for (let r = 0; r < runs; r++) {
    visit(offsets, length, inner);
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      for (let k = 0; k < offsets.length; k++) offsets[k] += mergedStrides[k][axis];
      if (index[axis] < merged[axis]) break;
      for (let k = 0; k < offsets.length; k++) offsets[k] -= mergedStrides[k][axis] * merged[axis];
      index[axis] = 0;
    }
  }
}

function binary(op: string, a: Evaluated, b: Evaluated, where: string): Evaluated {
  const dims = broadcastDims(a.dims, b.dims);
  if (!dims) throw new WnError(`${where}: shapes [${a.dims}] and [${b.dims}] do not broadcast`);
  const kernel = KERNELS[op];
  const data = new Float64Array(elementCount(dims));
  const strides = [broadcastStrides(dims, dims), broadcastStrides(a.dims, dims), broadcastStrides(b.dims, dims)];
  forEachRun(dims, strides, ([o, ia, ib], n, [, sa, sb]) => kernel(data, o, a.data, ia, sa, b.data, ib, sb, n));
  // integer division truncates (the other ops stay exact in float64 for the values weights have)
  if (op === 'Div' && !FLOAT_TYPES.has(a.type)) for (let i = 0; i < data.length; i++) data[i] = Math.trunc(data[i]);
  return { dims, data, type: a.type };
}

function normalizeAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((x, y) => x - y);
}

/** Sums of x (of x² where `squares`) over `axes`, each group's sum s then turned into finish(s, count). */
function reduce(x: Evaluated, axes: number[], keepdims: boolean, squares: boolean, finish: (s: number, n: number) => number): Evaluated {
  const reduced = new Set(axes);
  const outDims = x.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const out = new Float64Array(elementCount(outDims));
  const count = elementCount(axes.map((a) => x.dims[a]));
  const data = x.data;
  forEachRun(x.dims, [broadcastStrides(x.dims, x.dims), broadcastStrides(outDims, x.dims)], ([i, o], n, [, so]) => {
    if (so === 0) {
      let sum = 0;
      if (squares) for (let k = 0; k < n; k++) sum += data[i + k] * data[i + k];
      else for (let k = 0; k < n; k++) sum += data[i + k];
      out[o] += sum;
    } else if (squares) {
      for (let k = 0; k < n; k++) out[o + k] += data[i + k] * data[i + k];
    } else {
      for (let k = 0; k < n; k++) out[o + k] += data[i + k];
    }
  });
  for (let i = 0; i < out.length; i++) out[i] = finish(out[i], count);
  return { dims: keepdims ? outDims : x.dims.filter((_, i) => !reduced.has(i)), data: out, type: x.type };
}

function transpose(x: Evaluated, perm: number[]): Evaluated {
  const dims = perm.map((p) => x.dims[p]);
  const inStrides = broadcastStrides(x.dims, x.dims);
  const data = new Float64Array(x.data.length);
  const strides = [broadcastStrides(dims, dims), perm.map((p) => inStrides[p])];
  forEachRun(dims, strides, ([o, i], n, [, si]) => { for (let k = 0; k < n; k++) data[o + k] = x.data[i + k * si]; });
  return { dims, data, type: x.type };
}

function cast(x: Evaluated, to: DataType): Evaluated {
  const round: (v: number) => number = to === DataType.FLOAT ? Math.fround
    : to === DataType.FLOAT16 ? (v) => halfToFloat(floatToHalf(v))
      : to === DataType.BFLOAT16 ? (v) => bfloat16ToFloat(floatToBfloat16(v))
        : to === DataType.DOUBLE ? (v) => v
          : to === DataType.BOOL ? (v) => (v !== 0 ? 1 : 0) : Math.trunc;
  return { dims: x.dims, data: x.data.map(round), type: to };
}

/** Reshape's target dims: 0 copies the input's dim (allowzero = 0), −1 takes what is left. */
function reshapeDims(input: readonly number[], shape: readonly number[], allowZero: boolean, where: string): number[] {
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  const known = elementCount(dims.filter((d) => d !== -1));
  const total = elementCount(input);
  const out = dims.map((d) => (d === -1 ? total / known : d));
  if (elementCount(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new WnError(`${where}: cannot reshape [${input}] to [${shape}]`);
  }
  return out;
}

export class Evaluator {
  private readonly cache = new Map<string, Evaluated>();

  /** `opset`: the model's default-domain opset (axes and Clip bounds moved from attributes to inputs). */
  constructor(private readonly graph: Graph, private readonly opset: number) {}

  /** The value `name`, evaluated from the constants it depends on. */
  value(name: string): Evaluated {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const initializer = this.graph.initializer(name);
    let result: Evaluated;
    if (initializer) {
      result = tensorValue(initializer);
    } else {
      const node = this.graph.producer(name);
      if (!node) throw new WnError(`value "${name}" is not a constant (a graph input)`);
      result = this.evaluate(node, node.output!.indexOf(name));
    }
    this.cache.set(name, result);
    return result;
  }

  private input(node: NodeProto, i: number): Evaluated | undefined {
    const name = node.input?.[i];
    return name ? this.value(name) : undefined;
  }

  private ints(node: NodeProto, i: number): number[] | undefined {
    return this.input(node, i) && Array.from(this.input(node, i)!.data);
  }

  /** Axes of a Reduce*, Squeeze or Unsqueeze: an attribute before `inputFrom`, an input from it. */
  private axes(node: NodeProto, inputFrom: number): number[] | undefined {
    return this.opset >= inputFrom ? this.ints(node, 1) : intsAttribute(node, 'axes');
  }

  private evaluate(node: NodeProto, output: number): Evaluated {
    const op = node.op_type ?? '';
    const where = `${op} node "${node.name || node.output?.[0]}"`;
    if (!isDefaultDomain(node) || !EVALUATED_OPS.has(op)) throw new WnError(`${where}: ${op} is not evaluated here`);
    if (output !== 0) throw new WnError(`${where}: only the first output is evaluated`);
    const x = () => this.input(node, 0)!;
    if (op === 'Constant') return this.constant(node, where);
    if (op in UNARY) {
      const f = UNARY[op];
      const a = x();
      return { dims: a.dims, data: a.data.map(f), type: a.type };
    }
    if (op === 'Max' || op === 'Min') return (node.input ?? []).map((n) => this.value(n)).reduce((a, b) => binary(op, a, b, where));
    if (op in KERNELS) return binary(op, x(), this.input(node, 1)!, where);
    if (op === 'Cast') return cast(x(), intAttribute(node, 'to', 0) as DataType);
    if (op === 'Clip') return this.clip(node, x());
    if (op.startsWith('Reduce')) return this.reduce(node, x());
    if (op === 'LpNormalization') return this.lpNormalization(node, x());
    return this.shape(node, x(), where);
  }

  private constant(node: NodeProto, where: string): Evaluated {
    const value = attribute(node, 'value');
    if (value?.t) return tensorValue(value.t);
    const float = attribute(node, 'value_float');
    if (float) return { dims: [], data: Float64Array.of(float.f ?? 0), type: DataType.FLOAT };
    const floats = attribute(node, 'value_floats');
    if (floats) return { dims: [floats.floats?.length ?? 0], data: Float64Array.from(floats.floats ?? []), type: DataType.FLOAT };
    const int = attribute(node, 'value_int');
    if (int) return { dims: [], data: Float64Array.of(toNumber(int.i)), type: DataType.INT64 };
    const ints = attribute(node, 'value_ints');
    if (ints) return { dims: [ints.ints?.length ?? 0], data: Float64Array.from((ints.ints ?? []).map(toNumber)), type: DataType.INT64 };
    throw new WnError(`${where}: a Constant of this kind is not evaluated here`);
  }

  private clip(node: NodeProto, x: Evaluated): Evaluated {
    const fromInputs = this.opset >= 11;
    const low = fromInputs ? this.input(node, 1)?.data[0] ?? -Infinity : floatAttribute(node, 'min', -Infinity);
    const high = fromInputs ? this.input(node, 2)?.data[0] ?? Infinity : floatAttribute(node, 'max', Infinity);
    return { dims: x.dims, data: x.data.map((v) => Math.min(Math.max(v, low), high)), type: x.type };
  }

  private reduce(node: NodeProto, x: Evaluated): Evaluated {
    const op = node.op_type!;
    const listed = this.axes(node, op === 'ReduceSum' ? 13 : 18);
    const keepdims = intAttribute(node, 'keepdims', 1) === 1;
    if (!listed?.length && intAttribute(node, 'noop_with_empty_axes', 0) === 1) return x;
    const axes = listed?.length ? normalizeAxes(listed, x.dims.length) : x.dims.map((_, i) => i);
    switch (op) {
      case 'ReduceL2': return reduce(x, axes, keepdims, true, (s) => Math.sqrt(s));
      case 'ReduceSumSquare': return reduce(x, axes, keepdims, true, (s) => s);
      case 'ReduceMean': return reduce(x, axes, keepdims, false, (s, n) => s / n);
      default: return reduce(x, axes, keepdims, false, (s) => s);
    }
  }

  /** x / ‖x‖ₚ along one axis (p = 2 or 1); a zero vector stays zero, as ONNX Runtime computes it. */
  private lpNormalization(node: NodeProto, x: Evaluated): Evaluated {
    const axis = normalizeAxes([intAttribute(node, 'axis', -1)], x.dims.length);
    const p = intAttribute(node, 'p', 2);
    const norms = p === 1 ? reduce({ ...x, data: x.data.map(Math.abs) }, axis, true, false, (s) => s) : reduce(x, axis, true, true, Math.sqrt);
    const quotient = binary('Div', x, norms, 'LpNormalization');
    return { ...quotient, data: quotient.data.map((v) => (Number.isFinite(v) ? v : 0)) };
  }

  private shape(node: NodeProto, x: Evaluated, where: string): Evaluated {
    const op = node.op_type!;
    const rank = x.dims.length;
    switch (op) {
      case 'Reshape':
        return { ...x, dims: reshapeDims(x.dims, this.ints(node, 1) ?? [], intAttribute(node, 'allowzero', 0) === 1, where) };
      case 'Unsqueeze': {
        const listed = this.axes(node, 13) ?? [];
        const axes = normalizeAxes(listed, rank + listed.length);
        const dims = [...x.dims];
        for (const a of axes) dims.splice(a, 0, 1);
        return { ...x, dims };
      }
      case 'Squeeze': {
        const listed = this.axes(node, 13);
        const axes = new Set(listed?.length ? normalizeAxes(listed, rank) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
        return { ...x, dims: x.dims.filter((_, i) => !axes.has(i)) };
      }
      case 'Expand': {
        const target = this.ints(node, 1) ?? [];
        return binary('Mul', x, { dims: target, data: new Float64Array(elementCount(target)).fill(1), type: x.type }, where);
      }
      default: {
        const perm = intsAttribute(node, 'perm') ?? x.dims.map((_, i) => rank - 1 - i);
        return transpose(x, perm);
      }
    }
  }
}
