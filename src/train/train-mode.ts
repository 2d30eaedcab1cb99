/**
 * Training-mode semantics for the ops that behave differently while training (PyTorch's
 * model.train()), rewritten into ops the backward pass differentiates:
 *  - Dropout → x·mask, with the mask a graph input the trainer fills each step (Bernoulli(keep)
 *    / keep from the trainer's seeded generator, so a resumed run draws the same masks);
 *  - BatchNormalization → normalization by the batch statistics (population variance), and
 *    the running statistics updated as ONNX defines (r·momentum + batch·(1 − momentum), the
 *    variance unbiased as PyTorch keeps it) and handed out as new state;
 *  - mean-only BN (convert --mean-only-bn) → t − μ_B[t] + b, μ_B over every axis but the
 *    features, and the running mean updated as PyTorch's BatchNorm does:
 *    (1 − momentum)·running + momentum·μ_B (momentum 0.1 by default).
 * The element types and dims of every value made here are recorded for the gradient rules.
 */
import type { NodeProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
import { floatAttribute, intAttribute } from '../ir/attributes';
import { Builder } from '../ir/builder';
import type { Graph } from '../ir/graph';
import { elementCount, readFloats, tensorDims } from '../tensor/values';
import { WnError } from '../errors';
import type { ValueType } from '../ir/value-types';
import { meanOnlyBatchNorms, type MeanOnlyBn } from '../wn/mean-only-bn';
import type { GradientHook } from '../autodiff/backward';

export interface DropoutMask {
  /** Graph input the trainer feeds. */
  input: string;
  /** Probability of keeping an element. */
  keep: number;
  /** The mask's dims: those of the value it multiplies, null where they vary with the batch. */
  dims: (number | null)[];
}

/** A running statistic (BatchNormalization mean or variance) the step graph updates. */
export interface RunningStatistic { input: string; output: string }

export interface TrainMode {
  dropoutMasks: DropoutMask[];
  runningStatistics: RunningStatistic[];
  /** Values the backward pass treats as constants. */
  stopGradients: Set<string>;
  /** Gradients the backward pass rewrites (mean-only BN's centering). */
  gradientHooks: Map<string, GradientHook>;
}

/** Default momentum of mean-only BN's running mean (PyTorch's BatchNorm convention: the new batch's share). */
export const DEFAULT_BN_MOMENTUM = 0.1;

/**
 * Rewrites `graph` (a copy the caller owns) in place; `types` gains the new values.
 * `batchNorm: 'running'` keeps BatchNormalization and mean-only BN on their running statistics (frozen).
 */
export function applyTrainMode(
  graph: Graph, opset: number, types: Map<string, ValueType>, batchNorm: 'batch' | 'running', bnMomentum = DEFAULT_BN_MOMENTUM,
): TrainMode {
  const result: TrainMode = { dropoutMasks: [], runningStatistics: [], stopGradients: new Set(), gradientHooks: new Map() };
  if (batchNorm === 'batch') {
    for (const meanOnly of meanOnlyBatchNorms(graph)) lowerMeanOnlyBn(graph, opset, meanOnly, types, result, bnMomentum);
  }
  for (const node of [...graph.nodes]) {
    if (node.op_type === 'Dropout' && !node.domain) replaceWithBuilt(node, lowerDropout(graph, opset, node, types, result), types);
    if (node.op_type === 'BatchNormalization' && !node.domain && batchNorm === 'batch') {
      replaceWithBuilt(node, lowerBatchNorm(graph, opset, node, types, result), types);
    }
  }
  return result;
}

/**
 * y = t − μ_B[t] + b, computed as the layer with the bias b − μ_B[t] in place of b − running
 * mean: the layer stays one fused op (its bias is added where the kernel writes t), and μ_B[t]
 * costs a pass over the layer's input, not over t: the layer is linear in x, so the mean of its
 * output over the batch is the layer applied to the batch mean of x (zero padding included),
 * averaged over the spatial axes. Then the running mean's update.
 * The gradient does not go through that computation of μ_B: since y − b is t centered per
 * feature, ∂t = ∂y − mean(∂y) (the mean over the same axes) and ∂b = Σ ∂y, one pass over ∂y
 * beside the sum the bias needs anyway; the layer's backward then runs on the centered ∂t.
 */
function lowerMeanOnlyBn(
  graph: Graph, opset: number, { spec, node, reader }: MeanOnlyBn, types: Map<string, ValueType>, result: TrainMode, momentum: number,
): void {
  const label = `mean-only BN of layer "${spec.layer}"`;
  const running = graph.initializer(spec.runningMean);
  if (!running) throw new WnError(`${label}: its running mean "${spec.runningMean}" is not an initializer`);
  // the layer: the bias's reader, or the MatMul before its Add
  const layer = reader.op_type === 'Add' ? graph.producer(reader.input![reader.input![0] === node.output![0] ? 1 : 0]) : reader;
  if (!layer || !['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(layer.op_type ?? '')) {
    throw new WnError(`${label}: its bias is not read by the layer or by an Add after a MatMul; re-run convert --mean-only-bn on the original model`);
  }
  const [x, w] = layer.input!;
  const [xType, tType] = [types.get(x), types.get(layer.output![0])];
  if (!xType || !tType) throw new WnError(`internal: no shape known for "${x}" or "${layer.output![0]}"`);
  const { type } = tType;
  const featureAxis = spec.featureAxis < 0 ? tType.dims.length - 1 : spec.featureAxis;
  const runningDims = tensorDims(running);
  const biasDims = tensorDims(graph.initializer(spec.bias)!);
  if (tType.dims[featureAxis] !== elementCount(runningDims) || runningDims.join() !== biasDims.join()) {
    const holds = `its bias is [${biasDims}], its running mean [${runningDims}]`;
    throw new WnError(`${label}: ${tType.dims[featureAxis]} features, ${holds}; re-run convert --mean-only-bn on the original model`);
  }
  const b = new Builder(graph, opset, `${spec.layer}/mean_only_bn`, 'wn-onnx training mode: mean-only batch normalization');
  const typed = (name: string, dims: (number | null)[]) => { types.set(name, { type, dims }); return name; };

  // the batch axes of x: its first (Gemm with transA: its second), every one but the last for MatMul
  const rank = xType.dims.length;
  const batchAxes = layer.op_type === 'MatMul' ? [...Array(rank - 1).keys()]
    : [layer.op_type === 'Gemm' && intAttribute(layer, 'transA', 0) ? 1 : 0];
  // μ_B over the batch, then over the spatial axes (where the layer has them) into the bias's shape
  const xMean = typed(b.reduce('ReduceMean', x, batchAxes, true, 'input_mean'), xType.dims.map((d, i) => (batchAxes.includes(i) ? 1 : d)));
  const layerOfMean = b.op(layer.op_type!, [xMean, w], {}, 'layer_of_mean');
  b.nodes[b.nodes.length - 1].attribute = layer.attribute;
  const spatialLayer = layer.op_type === 'Conv' || layer.op_type === 'ConvTranspose';
  const meanDims = tType.dims.map((d, i) => (i === featureAxis || (spatialLayer && i > 0) ? d : 1));
  typed(layerOfMean, meanDims);
  const otherAxes = [...meanDims.keys()].filter((i) => i !== featureAxis);
  const batchMean = typed(spatialLayer && biasDims.length === 1
    ? b.reduce('ReduceMean', layerOfMean, otherAxes, false, 'batch_mean')
    : b.reshape(layerOfMean, biasDims, 'batch_mean'), biasDims);
  const centeredBias = typed(b.op('Sub', [spec.bias, batchMean], {}, 'bias'), biasDims);
  // On data (no gradient wanted for x), the gradient flows through the batch mean as computed:
  // ∂W gains −(mean ∂y) ⊗ Σ patches from one mean sample, where centering ∂y would be a pass
  // over the whole pre-activation (0.24 of a 1.1 ms overhead on the bundled CNN's conv1).
  // Elsewhere ∂x would need the mean's gradient spread over the batch: ∂t is centered instead.
  const onData = graph.graphInputIndex(x) >= 0 && !graph.initializer(x);
  if (!onData) {
    result.stopGradients.add(centeredBias);
    result.gradientHooks.set(reader.output![0], centeredGradient(`${spec.layer}/mean_only_bn`, tType, featureAxis, spec.bias, biasDims));
  }
  // a new node, not an edit: the step graph shares its node objects with the model
  graph.redirectInput(reader, node.output![0], centeredBias);
  graph.removeNodes([node]);

  // the running mean (of the bias's shape, as the batch mean): not on the gradient path
  const output = graph.uniqueName(`${spec.runningMean}/updated`);
  b.op('Add', [
    b.op('Mul', [spec.runningMean, b.constantScalar('kept', type, 1 - momentum)], {}, 'running_kept'),
    b.op('Mul', [batchMean, b.constantScalar('rate', type, momentum)], {}, 'running_new'),
  ], {}, 'running_mean', output);
  result.runningStatistics.push({ input: spec.runningMean, output });
  typeConstants(b, types);
  b.placeAt(graph.nodes.indexOf(graph.consumers(centeredBias)[0]));
}

/** ∂t = ∂y − mean(∂y) over every axis but the features, and ∂b = Σ ∂y over them, for y = t − μ_B[t] + b. */
function centeredGradient(role: string, t: ValueType, featureAxis: number, bias: string, biasDims: number[]): GradientHook {
  const axes = [...t.dims.keys()].filter((i) => i !== featureAxis);
  // features on the last axis and a 1-D bias: the sum is the bias's gradient as it is, and broadcasts against ∂y
  const flat = featureAxis === t.dims.length - 1 && biasDims.length === 1;
  return (b, dy) => {
    const summed = b.reduce('ReduceSum', dy, axes, !flat, `${role}/bias_grad`);
    const mean = b.op('Div', [summed, rowCount(b, dy, t, featureAxis, `${role}/rows`)], {}, `${role}/mean_grad`);
    const biasGrad = flat ? summed : b.reshape(summed, biasDims, `${role}/bias_grad`);
    return { dy: b.op('Sub', [dy, mean], {}, `${role}/centered_grad`), more: [[bias, biasGrad]] };
  };
}

/** How many values of x each feature has: a constant where x's dims are known, else its size over the feature count. */
function rowCount(b: Builder, x: string, { type, dims }: ValueType, featureAxis: number, role: string): string {
  const features = dims[featureAxis]!;
  if (dims.every((d) => d !== null)) return b.constantScalar(role, type, elementCount(dims as number[]) / features);
  const size = b.cast(b.op('Size', [x], {}, `${role}_size`), type, `${role}_size_float`);
  return b.op('Div', [size, b.constantScalar(`${role}_features`, type, features)], {}, role);
}

/** A Builder's constants in `types`. */
function typeConstants(b: Builder, types: Map<string, ValueType>): void {
  for (const constant of b.initializers) types.set(constant.name!, { type: constant.data_type!, dims: tensorDims(constant) });
}

/** `node` replaced by what a Builder made in its place (computing its first output), its constants typed. */
export function replaceWithBuilt(node: NodeProto, b: Builder, types: Map<string, ValueType>): void {
  typeConstants(b, types);
  b.replace([node], [node.output![0]]);
}

function label(node: NodeProto): string { return node.name || node.output![0]; }

function refuseExtraOutputs(graph: Graph, node: NodeProto): void {
  for (const out of (node.output ?? []).slice(1)) {
    if (out && (graph.consumers(out).length || graph.isGraphOutput(out))) {
      throw new WnError(`${node.op_type} node "${label(node)}": its output "${out}" is used; wn-onnx trains only models that use the first output`);
    }
  }
}

function constantValue(graph: Graph, node: NodeProto, index: number, what: string): number | undefined {
  const name = node.input?.[index];
  if (!name) return undefined;
  const t = graph.initializer(name);
  if (!t) throw new WnError(`${node.op_type} node "${label(node)}": its ${what} "${name}" is not a constant; training needs it fixed`);
  return readFloats(t)[0];
}

function lowerDropout(graph: Graph, opset: number, node: NodeProto, types: Map<string, ValueType>, result: TrainMode): Builder {
  refuseExtraOutputs(graph, node);
  const ratio = opset >= 12 ? constantValue(graph, node, 1, 'ratio') ?? 0.5 : floatAttribute(node, 'ratio', 0.5);
  const x = node.input![0];
  const b = new Builder(graph, opset, label(node), 'wn-onnx training mode: dropout');
  const mask = graph.uniqueName(`${label(node)}/mask`);
  graph.appendGraphInputs([{ name: mask, type: { tensor_type: { elem_type: types.get(x)?.type ?? DataType.FLOAT } } }]);
  types.set(mask, types.get(x)!);
  b.op('Mul', [x, mask], {}, 'apply_mask', node.output![0]);
  result.dropoutMasks.push({ input: mask, keep: 1 - ratio, dims: types.get(x)!.dims });
  return b;
}

function lowerBatchNorm(graph: Graph, opset: number, node: NodeProto, types: Map<string, ValueType>, result: TrainMode): Builder {
  refuseExtraOutputs(graph, node);
  if (opset < 9 && intAttribute(node, 'spatial', 1) !== 1) throw new WnError(`BatchNormalization node "${label(node)}": spatial=0 is not supported for training`);
  const [x, scale, bias, runningMean, runningVar] = node.input!;
  for (const stat of [runningMean, runningVar]) {
    if (!graph.initializer(stat)) throw new WnError(`BatchNormalization node "${label(node)}": running statistic "${stat}" is not an initializer`);
  }
  const xType = types.get(x);
  if (!xType) throw new WnError(`internal: no shape known for "${x}"`);
  const rank = xType.dims.length;
  const channels = xType.dims[1]!;
  const type = xType.type;
  const eps = floatAttribute(node, 'epsilon', 1e-5);
  const momentum = floatAttribute(node, 'momentum', 0.9);
  const b = new Builder(graph, opset, label(node), 'wn-onnx training mode: batch normalization');
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const statDims = xType.dims.map((d, i) => (i === 1 ? d : 1));
  const typed = (name: string, dims: (number | null)[]) => { types.set(name, { type, dims }); return name; };
  const perChannel = (name: string) => typed(name, statDims);
  const full = (name: string) => typed(name, xType.dims);
  const statShape = statDims as number[];

  const moments = b.moments(x, (v, role) => b.reduce('ReduceMean', v, axes, true, role), eps, type, 'batch_');
  for (const value of [moments.mean, moments.variance, moments.varianceEps, moments.std]) perChannel(value);
  for (const value of [moments.centered, moments.squared]) full(value);
  const { mean, centered, variance, std } = moments;
  const normalized = full(b.op('Div', [centered, std], {}, 'normalized'));
  const scaleShaped = perChannel(b.reshape(scale, statShape, 'scale_shaped'));
  const biasShaped = perChannel(b.reshape(bias, statShape, 'bias_shaped'));
  b.op('Add', [full(b.op('Mul', [normalized, scaleShaped], {}, 'scaled')), biasShaped], {}, 'shifted', node.output![0]);

  // running statistics: not on the gradient path
  const count = b.op('Div', [b.cast(b.op('Size', [x], {}, 'count'), type, 'count_float'), b.constantScalar('channels', type, channels)], {}, 'per_channel_count');
  const unbiasing = b.op('Div', [count, b.op('Sub', [count, b.constantScalar('one', type, 1)], {}, 'count_minus_one')], {}, 'unbiasing');
  const blend = (running: string, batch: string, role: string) => {
    const output = graph.uniqueName(`${running}/updated`);
    b.op('Add', [
      b.op('Mul', [running, b.constantScalar(`${role}_momentum`, type, momentum)], {}, `${role}_kept`),
      b.op('Mul', [b.reshape(batch, [channels], `${role}_flat`), b.constantScalar(`${role}_rate`, type, 1 - momentum)], {}, `${role}_new`),
    ], {}, role, output);
    result.runningStatistics.push({ input: running, output });
  };
  blend(runningMean, mean, 'running_mean');
  blend(runningVar, b.op('Mul', [variance, unbiasing], {}, 'unbiased_var'), 'running_var');
  typeConstants(b, types);
  return b;
}
