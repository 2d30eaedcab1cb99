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

const BINARY: Record<string, (a: number, b: number) => number> = {
  Mul: (a, b) => a * b, Div: (a, b) => a / b, Add: (a, b) => a + b, Sub: (a, b) => a - b,
  Max: (a, b) => (a >= b || Number.isNaN(a) ? a : b), Min: (a, b) => (a <= b || Number.isNaN(a) ? a : b), Pow: (a, b) => a ** b,
};

const UNARY: Record<string, (a: number) => number> = {
  Identity: (a) => a, Reciprocal: (a) => 1 / a, Sqrt: Math.sqrt, Neg: (a) => -a, Abs: Math.abs,
};

/** numpy broadcasting of two shapes, or undefined when they do not broadcast. */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
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

/** Strides of `dims` as seen from a broadcast result of rank `rank` (0 along broadcast axes). */
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

function binary(op: string, a: Evaluated, b: Evaluated, where: string): Evaluated {
  const dims = broadcastDims(a.dims, b.dims);
  if (!dims) throw new WnError(`${where}: shapes [${a.dims}] and [${b.dims}] do not broadcast`);
  const f = BINARY[op];
  const n = elementCount(dims);
  const data = new Float64Array(n);
  const type = a.type;
  if (a.data.length === n && b.data.length === n) {
    for (let i = 0; i < n; i++) data[i] = f(a.data[i], b.data[i]);
    return { dims, data, type };
  }
  if (b.data.length === 1 && a.data.length === n) {
    const y = b.data[0];
    for (let i = 0; i < n; i++) data[i] = f(a.data[i], y);
    return { dims, data, type };
  }
  const sa = broadcastStrides(a.dims, dims);
  const sb = broadcastStrides(b.dims, dims);
  const index = new Array<number>(dims.length).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    data[i] = f(a.data[ia], b.data[ib]);
    // odometer over the output index, moving both input offsets with it
    for (let axis = dims.length - 1; axis >= 0; axis--) {
      index[axis]++;
      ia += sa[axis];
      ib += sb[axis];
      if (index[axis] < dims[axis]) break;
      ia -= sa[axis] * dims[axis];
      ib -= sb[axis] * dims[axis];
      index[axis] = 0;
    }
  }
  return { dims, data, type };
}

function normalizeAxes(axes: readonly number[], rank: number): number[] {
  return [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((x, y) => x - y);
}

/** Reduces `x` over `axes` with `kind`: the per-group value from the sum s of f(x) and the count. */
function reduce(x: Evaluated, axes: number[], keepdims: boolean, term: (v: number) => number, finish: (s: number, n: number) => number): Evaluated {
  const reduced = new Set(axes);
  const outDims = x.dims.map((d, i) => (reduced.has(i) ? 1 : d));
  const out = new Float64Array(elementCount(outDims));
  const count = elementCount(axes.map((a) => x.dims[a]));
  const strides = broadcastStrides(outDims, x.dims);
  const index = new Array<number>(x.dims.length).fill(0);
  let o = 0;
  for (let i = 0; i < x.data.length; i++) {
    out[o] += term(x.data[i]);
    for (let axis = x.dims.length - 1; axis >= 0; axis--) {
      index[axis]++;
      o += strides[axis];
      if (index[axis] < x.dims[axis]) break;
      o -= strides[axis] * x.dims[axis];
      index[axis] = 0;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = finish(out[i], count);
  return { dims: keepdims ? outDims : x.dims.filter((_, i) => !reduced.has(i)), data: out, type: x.type };
}

function transpose(x: Evaluated, perm: number[]): Evaluated {
  const dims = perm.map((p) => x.dims[p]);
  const inStrides = broadcastStrides(x.dims, x.dims);
  const strides = perm.map((p) => inStrides[p]);
  const data = new Float64Array(x.data.length);
  const index = new Array<number>(dims.length).fill(0);
  let from = 0;
  for (let i = 0; i < data.length; i++) {
    data[i] = x.data[from];
    for (let axis = dims.length - 1; axis >= 0; axis--) {
      index[axis]++;
      from += strides[axis];
      if (index[axis] < dims[axis]) break;
      from -= strides[axis] * dims[axis];
      index[axis] = 0;
    }
  }
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
    if (op in BINARY) return binary(op, x(), this.input(node, 1)!, where);
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
      case 'ReduceL2': return reduce(x, axes, keepdims, (v) => v * v, (s) => Math.sqrt(s));
      case 'ReduceSumSquare': return reduce(x, axes, keepdims, (v) => v * v, (s) => s);
      case 'ReduceMean': return reduce(x, axes, keepdims, (v) => v, (s, n) => s / n);
      default: return reduce(x, axes, keepdims, (v) => v, (s) => s);
    }
  }

  /** x / ‖x‖ₚ along one axis (p = 2 or 1); a zero vector stays zero, as ONNX Runtime computes it. */
  private lpNormalization(node: NodeProto, x: Evaluated): Evaluated {
    const axis = normalizeAxes([intAttribute(node, 'axis', -1)], x.dims.length);
    const p = intAttribute(node, 'p', 2);
    const norms = reduce(x, axis, true, p === 1 ? Math.abs : (v) => v * v, p === 1 ? (s) => s : Math.sqrt);
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
        const axes = normalizeAxes(this.axes(node, 13) ?? [], rank + (this.axes(node, 13)?.length ?? 0));
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
