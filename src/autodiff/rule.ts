/**
 * A gradient rule: given one forward node and the gradients of its outputs, it emits standard
 * ONNX ops (in the model's opset) that compute the gradients of its inputs. Rules live one per
 * op (or op family) in ./grads and are listed in ./grads/index.ts.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType, dataTypeName } from '../onnx/enums';
import type { AttributeValue } from '../ir/attributes';
import type { Builder } from '../ir/builder';
import { WnError } from '../errors';
import type { ValueTypes } from '../ir/value-types';

export interface GradientRule {
  /** The op types (default domain) this rule differentiates. */
  readonly ops: readonly string[];
  /**
   * Input positions that never take a gradient (shapes, indices, running statistics); the
   * backward pass stops there and never offers them as trainable parameters.
   */
  readonly nonDifferentiable?: readonly number[];
  /** Gradients of the node's inputs, by position; undefined where an input gets none. */
  grad(ctx: GradContext): (string | undefined)[];
  /**
   * For elementwise ops whose derivative is a function of their output alone (Relu, LeakyRelu):
   * `dy` times that derivative at `y`, values of `node`'s output (all of them, or some: a max
   * pooling's maxima); undefined where the node's attributes rule it out. A consumer that passes
   * the gradient on to few of the output's elements applies it to those only (see
   * GradContext.producerDerivativeTimes).
   */
  outputDerivativeTimes?(ctx: GradContext, node: NodeProto, dy: string, y: string): string | undefined;
}

/** What a rule may know of the nodes around its own, from the backward pass. */
export interface GradLinks {
  /**
   * The node computing `name` and its rule, where the node being differentiated is all the
   * gradient of `name` comes from (its one reader; not a graph output, seed or hooked value).
   */
  soleProducer(name: string): { node: NodeProto; rule: GradientRule } | undefined;
  /** Records that the gradient `grad` already carries the derivative of its value's producer. */
  carry(grad: string): void;
  carries(grad: string): boolean;
}

const NO_LINKS: GradLinks = { soleProducer: () => undefined, carry: () => undefined, carries: () => false };

/**
 * Ops and outputs the gradient may use where execution providers differ: a rule picks another,
 * numerically equivalent, lowering where one is missing. The default is what ONNX Runtime's CPU
 * kernels (cpu, cuda, wasm) run.
 */
export interface Lowering {
  /** MaxPool's Indices output: ONNX Runtime's WebGPU MaxPool refuses it (native EP) or never writes it (JSEP). */
  maxPoolIndices: boolean;
  /** Most outputs of one Split: WebGPU binds its input and each output as a storage buffer (8 per shader by default). */
  splitOutputs: number;
  /** Most inputs of one Concat, for the same reason. */
  concatInputs: number;
  /**
   * Most bytes a Conv's weight gradient may lay out as gathered windows (im2col, the fast way);
   * a layer over it takes a Conv over the batch instead, which needs no such copy.
   */
  im2colBytes: number;
  /** The batch size the step runs at, where a value's batch axis varies (sizes im2col). */
  batchRows: number;
  /**
   * Fewest values per weight (batch × windows) at which a stride-1 Conv's input gradient is a
   * Conv with the kernel reversed rather than a ConvTranspose: reversing the kernel is a Gather
   * of single elements, a few ns per weight, which only enough values per weight pay for. For
   * convolutions over two or more axes: one-dimensional ones (a vocoder's, dilated) always take
   * the reversed kernel, as ConvTranspose made their step slower (918–1046 against 812–874 ms).
   */
  flipMinValues: number;
  /**
   * Most windows per sample at which the step graph runs a Conv (group 1) as one im2col Gather
   * and one MatMul over the whole batch (0: never): ONNX Runtime's CPU Conv runs a GEMM per
   * sample, which for few windows reads the whole kernel once per sample.
   */
  convMatMulWindows: number;
}

/**
 * ONNX Runtime's CPU kernels. flipMinValues, measured (session.run, 3×3 kernels, 2 threads):
 * 64 values per weight (ResNet-18's last stage at batch 16, 512×512 weights) take 10.3 ms by
 * ConvTranspose against 17.3 ms by the reversed-kernel Conv; 1,024 values 2.3–2.5 against
 * 3.6–4.0 ms; 4,096 values 2.5 against 2.2–2.5 ms.
 */
export const CPU_LOWERING: Lowering = {
  maxPoolIndices: true, splitOutputs: Infinity, concatInputs: Infinity, im2colBytes: Infinity, batchRows: 1, flipMinValues: 4096,
  convMatMulWindows: 16,
};

/** `xs` concatenated along `axis`; more than `maxInputs` of them: a tree of Concats (the same values, in more nodes). */
export function concatPieces(b: Builder, xs: string[], axis: number, maxInputs: number, role = 'Concat'): string {
  if (xs.length <= maxInputs) return b.op('Concat', xs, { axis }, role);
  const perGroup = Math.ceil(xs.length / maxInputs);
  const groups = Array.from({ length: Math.ceil(xs.length / perGroup) }, (_, g) => xs.slice(g * perGroup, (g + 1) * perGroup));
  return concatPieces(b, groups.map((g) => (g.length === 1 ? g[0] : concatPieces(b, g, axis, maxInputs, role))), axis, maxInputs, role);
}

/**
 * `x` cut into consecutive pieces of `sizes` along `axis` (sizes an attribute before opset 13,
 * an input from 13). More than `maxOutputs` pieces: a tree of Splits, each piece a group of
 * them cut again; the values are the same copies, only in more nodes.
 */
export function splitPieces(b: Builder, x: string, sizes: number[], axis: number, maxOutputs: number, role = 'Split'): string[] {
  if (sizes.length > maxOutputs) {
    const perGroup = Math.ceil(sizes.length / maxOutputs);
    const groups = Array.from({ length: Math.ceil(sizes.length / perGroup) }, (_, g) => sizes.slice(g * perGroup, (g + 1) * perGroup));
    const groupValues = splitPieces(b, x, groups.map((g) => g.reduce((sum, n) => sum + n, 0)), axis, maxOutputs, role);
    return groups.flatMap((g, i) => (g.length === 1 ? [groupValues[i]] : splitPieces(b, groupValues[i], g, axis, maxOutputs, role)));
  }
  if (b.opset >= 13) return b.multiOp('Split', [x, b.constantInt64(`${role}_sizes`, sizes)], sizes.length, { axis }, role);
  return b.multiOp('Split', [x], sizes.length, { axis, split: sizes }, role);
}

export class GradContext {
  constructor(
    readonly node: NodeProto,
    readonly opset: number,
    private readonly b: Builder,
    private readonly types: ValueTypes,
    private readonly outputGrads: readonly (string | undefined)[],
    private readonly wanted: readonly boolean[],
    private readonly addOutput: (index: number, name: string) => void,
    readonly lowering: Lowering = CPU_LOWERING,
    private readonly links: GradLinks = NO_LINKS,
  ) {}

  /** The node's i-th input name ('' where an optional input is absent). */
  input(i: number): string { return this.node.input?.[i] ?? ''; }
  output(i: number): string { return this.node.output?.[i] ?? ''; }
  hasInput(i: number): boolean { return !!this.input(i); }
  /** The gradient of output i, undefined when the loss does not depend on it. */
  dy(i = 0): string | undefined { return this.outputGrads[i]; }
  /** Whether input i needs a gradient (rules may skip work for inputs that do not). */
  wants(i: number): boolean { return !!this.wanted[i]; }

  private valueType(name: string) {
    const t = this.types.get(name);
    if (!t) throw new WnError(`internal: no shape known for value "${name}" (input of ${this.describe()})`);
    return t;
  }

  dims(name: string): (number | null)[] { return this.valueType(name).dims; }
  rank(name: string): number { return this.dims(name).length; }
  type(name: string): DataType { return this.valueType(name).type; }
  /** Static dims, or a one-line error naming the node when some vary. */
  staticDims(name: string, why: string): number[] {
    const dims = this.dims(name);
    if (dims.some((d) => d === null)) throw new WnError(`${this.describe()}: ${why} needs a fixed shape for "${name}", it is [${dims.map((d) => d ?? '?')}]`);
    return dims as number[];
  }

  describe(): string { return `${this.node.op_type} node "${this.node.name || this.output(0)}"`; }

  fail(message: string): never { throw new WnError(`cannot differentiate ${this.describe()}: ${message}`); }

  /**
   * The forward node's output i, which the forward pass then computes too where the node did
   * not have it (MaxPool's Indices): cheaper than recomputing it in the backward pass.
   */
  forwardOutput(i: number, role: string): string {
    if (this.output(i)) return this.output(i);
    const name = this.b.name(this.role(role));
    this.addOutput(i, name);
    return name;
  }

  /**
   * `dy` times the derivative of `x`'s producer, taken at `y` (values of that producer's output
   * at the places `dy` goes: a max pooling's maxima), where this node alone reads `x` and the
   * producer's derivative depends on its output alone; else undefined. The gradient the rule
   * then returns for `x` must carry that derivative everywhere (zeros elsewhere): the rule says
   * so with `carriesProducerDerivative`, and the producer's rule passes it on unchanged.
   */
  producerDerivativeTimes(x: string, dy: string, y: string): string | undefined {
    const producer = this.links.soleProducer(x);
    return producer?.rule.outputDerivativeTimes?.(this, producer.node, dy, y);
  }

  carriesProducerDerivative(grad: string): string {
    this.links.carry(grad);
    return grad;
  }

  /** Whether the gradient of output 0 already carries this node's own derivative (its reader applied it). */
  derivativeApplied(): boolean {
    const dy = this.dy();
    return !!dy && this.links.carries(dy);
  }

  // -- emitting ops ----------------------------------------------------------------------

  /** Names of what this rule emits start with the forward node's name. */
  private role(role: string): string { return `${this.node.name || this.output(0)}/${role}`; }

  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue | { float: number }> = {}, role = opType): string {
    return this.b.op(opType, inputs, attributes, this.role(role));
  }

  /** An op with several outputs (Split, MaxPool with Indices …): returns their names. */
  multiOp(opType: string, inputs: string[], outputs: number, attributes: Record<string, AttributeValue | { float: number }> = {}, role = opType): string[] {
    return this.b.multiOp(opType, inputs, outputs, attributes, this.role(role));
  }

  /** `x` cut into pieces of `sizes` along `axis` (a tree of Splits where the provider takes fewer outputs). */
  split(x: string, sizes: number[], axis: number): string[] {
    return splitPieces(this.b, x, sizes, axis, this.lowering.splitOutputs, this.role('Split'));
  }

  /** A scalar constant with the element type of `like`. */
  scalar(value: number, like: string): string {
    const type = this.type(like);
    if (![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16].includes(type)) {
      throw new WnError(`internal: float constant for ${dataTypeName(type)} value "${like}"`);
    }
    return this.b.constantScalar(this.role('const'), type, value);
  }

  ints(values: number[], role = 'ints'): string { return this.b.constantInt64(this.role(role), values); }

  shape(name: string): string { return this.op('Shape', [name], {}, 'shape'); }

  /** A Reduce* op in the form the opset needs (axes attribute or input). */
  reduce(opType: string, x: string, axes: number[], keepdims: boolean): string {
    return this.b.reduce(opType, x, axes, keepdims, this.role(opType));
  }

  /** Zero padding, `pads` as [begins…, ends…]: an attribute before opset 11, an input from 11. */
  pad(x: string, pads: number[]): string {
    return this.b.pad(x, pads, this.role('Pad'));
  }

  unsqueeze(x: string, axes: number[]): string {
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.ints(axes, 'axes')]);
    return this.op('Unsqueeze', [x], { axes });
  }

  squeeze(x: string, axes: number[]): string {
    if (this.opset >= 13) return this.op('Squeeze', [x, this.ints(axes, 'axes')]);
    return this.op('Squeeze', [x], { axes });
  }

  /**
   * The dims of a forward value at `axes` (all, in order, by default) as an int64 tensor: a
   * constant where they are fixed, else read from its Shape at runtime.
   */
  shapeOf(name: string, axes?: number[]): string {
    const dims = this.dims(name);
    const picked = axes ? axes.map((a) => dims[a]) : dims;
    if (picked.every((d) => d !== null)) return this.ints(picked as number[], 'shape');
    return axes ? this.op('Gather', [this.shape(name), this.ints(axes, 'axes')]) : this.shape(name);
  }

  /** `grad` reshaped to the runtime shape of `like`. */
  reshapeLike(grad: string, like: string): string {
    return this.op('Reshape', [grad, this.shapeOf(like)]);
  }

  /**
   * Undoes numpy broadcasting: `grad` has dims `gradDims` (the broadcast result, by default
   * the node's first output); the return value has the shape of `target` (one of the
   * broadcast inputs). Axes the target lacks, or holds as a fixed 1 where the result does not,
   * are summed. `asDims` are the dims the target took part in the broadcast with, where an op
   * promoted it first (MatMul's 1-D operands).
   */
  unbroadcast(grad: string, target: string, gradDims: (number | null)[] = this.dims(this.output(0)), asDims = this.dims(target)): string {
    const lead = gradDims.length - asDims.length;
    const axes: number[] = [];
    for (let i = 0; i < gradDims.length; i++) {
      if (i < lead || (asDims[i - lead] === 1 && gradDims[i] !== 1)) axes.push(i);
    }
    const summed = axes.length ? this.reduce('ReduceSum', grad, axes, true) : grad;
    return gradDims.length !== this.rank(target) ? this.reshapeLike(summed, target) : summed;
  }

  /** Swaps the last two axes of a value of the given rank. */
  transposeLastTwo(x: string, rank: number): string {
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return this.op('Transpose', [x], { perm });
  }
}
