/**
 * compileTrainingGraph: ONE ONNX graph that does a whole training step — the forward pass in
 * training mode, the loss, the backward pass (reverse-mode autodiff into standard ONNX ops),
 * and the optimizer update — so that a plain InferenceSession trains, on any execution
 * provider. Parameters, optimizer state and running statistics are graph inputs and come back
 * updated as outputs; the trainer feeds each step's outputs into the next.
 *
 * Also compiled: the evaluation graph (the model as it is, parameters as inputs, loss as an
 * extra output) for validation with the same parameter tensors.
 */
import type { GraphProto, ValueInfoProto } from '../onnx/proto';
import { DataType, FLOAT_TYPES, dataTypeName } from '../onnx/enums';
import { Graph, tensorValueInfo } from '../ir/graph';
import { Model } from '../ir/model';
import { Builder } from '../ir/builder';
import { tensorDims, elementCount } from '../tensor/values';
import { option, WnError } from '../errors';
import { buildBackward } from '../autodiff/backward';
import { CPU_LOWERING, type Lowering } from '../autodiff/rule';
import type { ExecutionProvider } from '../runtime/ort';
import type { ValueType, ValueTypes } from '../ir/value-types';
import { chooseParameters } from './parameters';
import { emitLoss, type EmittedLoss, type LossKind } from './loss';
import { emitUpdate, STATE_NAMES, type OptimizerOptions, type StepScalars, type StateTensor } from './optimizer';
import { applyTrainMode, type DropoutMask } from './train-mode';
import { lowerConvsAsMatMul } from './conv-matmul';
import { checkStepMemory, estimateStepMemory, IM2COL_SHARE, type MemoryBudget, type MemoryEstimate } from './memory';

export interface TrainingGraphOptions {
  /** Element types and shapes of the model's values (src/runtime/value-probe.ts). */
  types: ValueTypes;
  loss?: LossKind;
  /** The output the loss is on (default: the model's first output). */
  output?: string;
  optimizer?: OptimizerOptions;
  /** Parameters whose names match stay fixed. */
  freeze?: RegExp;
  /** 'batch' (default, PyTorch's train mode) or 'running': BatchNormalization keeps its running statistics. */
  batchNorm?: 'batch' | 'running';
  /** Mean-only BN's running-mean momentum: the new batch mean's share (default 0.1, as PyTorch's BatchNorm). */
  bnMomentum?: number;
  /** The execution provider the step runs on: where its kernels lack an op or output, gradients take an equivalent lowering. */
  ep?: ExecutionProvider;
  /** A memory budget: the step is refused where its estimate passes it, and Conv weight gradients fit their im2col to it. */
  memory?: MemoryBudget;
}

/**
 * WebGPU's MaxPool has no Indices output (the native EP refuses it, onnxruntime-web's JSEP leaves
 * it unset), and a Split may bind 8 storage buffers (WebGPU's default limit): its input and 7 outputs.
 */
export function loweringFor(ep: ExecutionProvider = 'cpu', memory?: MemoryBudget): Lowering {
  // cuDNN's convolutions and WebGPU's shaders take whole batches: Convs stay Convs there
  const provider = ep === 'webgpu' ? { ...CPU_LOWERING, maxPoolIndices: false, splitOutputs: 7, concatInputs: 7, convMatMulWindows: 0 }
    : ep === 'cuda' ? { ...CPU_LOWERING, convMatMulWindows: 0 } : CPU_LOWERING;
  return memory ? { ...provider, im2colBytes: memory.bytes * IM2COL_SHARE, batchRows: memory.batchRows } : provider;
}

/** A tensor carried from step to step: fed as `input`, returned as `output`. */
export interface CarriedTensor {
  input: string;
  output: string;
  type: DataType;
  dims: number[];
  /** The initializer it starts from; absent: zeros (optimizer state). */
  initializer?: string;
}

export interface CompiledGraph {
  model: Model;
  /** Model inputs fed with each batch. */
  data: string[];
  /** Input for the targets: one-hot [N, C] (cross-entropy) or the output's shape (mse, l1). */
  target: string;
  loss: string;
  /** The model output the loss is on (also a graph output, for accuracy). */
  output: string;
  /** Its dims, null where they vary with the batch. */
  outputDims: (number | null)[];
}

export interface TrainingGraph extends CompiledGraph {
  /** Trainable parameters, then the optimizer state (one flat tensor per role), then running statistics. */
  carried: CarriedTensor[];
  parameters: string[];
  dropoutMasks: DropoutMask[];
  scalars: StepScalars;
  /** The evaluation graph: reads the parameters and running statistics by their input names. */
  evaluation: CompiledGraph;
  frozen: string[];
  /** Float initializers that would train but do not affect the loss. */
  unused: string[];
  /** The step's estimated peak memory, where a budget was given. */
  memory?: MemoryEstimate;
}

export function compileTrainingGraph(model: Model, options: TrainingGraphOptions): TrainingGraph {
  const opset = model.defaultOpset();
  const loss = options.loss ?? 'cross-entropy';
  const optimizer = options.optimizer ?? { kind: 'adam' };
  const output = options.output ?? model.graph.outputs[0]?.name ?? '';
  if (!model.graph.producer(output) && model.graph.graphInputIndex(output) < 0) {
    throw new WnError(`${option('output')} "${output}": the model has no such value; its outputs are ${model.graph.outputs.map((o) => o.name).join(', ')}`);
  }
  const outputType = options.types.get(output);
  if (!outputType || !FLOAT_TYPES.has(outputType.type)) throw new WnError(`output "${output}" is not a floating-point tensor; the loss needs one`);
  const { trainable, frozen } = chooseParameters(model, options.freeze);
  if (!trainable.length) throw new WnError(`nothing to train: the model has no floating-point parameters${frozen.length ? ` that ${option('freeze')} leaves free` : ''}`);

  const step = new Model({ ...model.proto, graph: copyGraph(model.graph.proto) });
  const graph = step.graph;
  const types = new Map<string, ValueType>(options.types);
  const trainMode = applyTrainMode(graph, opset, types, options.batchNorm ?? 'batch', options.bnMomentum);
  const lowering = loweringFor(options.ep, options.memory);
  lowerConvsAsMatMul(graph, opset, types, lowering);

  const { target, emitted } = attachLoss(step, loss, output, outputType, 'wn-onnx training step: loss');

  const backward = buildBackward(step, {
    seeds: new Map([[output, emitted.grad]]), wrt: trainable, types, lowering,
    stops: trainMode.stopGradients, hooks: trainMode.gradientHooks,
  });
  const parameters = trainable.filter((p) => backward.grads.has(p));
  step.addInitializers(backward.initializers);
  graph.insertNodes(backward.nodes, graph.nodes.length);

  const paramType = singleType(graph, parameters);
  const scalars = addScalars(graph, optimizer, paramType);
  const carried = parameters.map((name) => carry(graph, name, true));
  const total = carried.reduce((n, c) => n + elementCount(c.dims), 0);
  const state: StateTensor[] = STATE_NAMES[optimizer.kind](optimizer).map((role) => {
    const input = graph.uniqueName(`optimizer.${role}`);
    const tensor = { input, output: graph.uniqueName(`${input}.updated`), type: paramType, dims: [total] };
    graph.appendGraphInputs([tensorValueInfo(input, paramType, tensor.dims)]);
    carried.push(tensor);
    return tensor;
  });
  const b = new Builder(graph, opset, `optimizer/${optimizer.kind}`, `wn-onnx training step: ${optimizer.kind}`);
  const updated = carried.slice(0, parameters.length).map((c) => ({ param: c.input, grad: backward.grads.get(c.input)!, dims: c.dims, updated: c.output }));
  emitUpdate(b, optimizer, scalars, paramType, updated, state, lowering);
  appendBuilt(step, b);
  for (const stat of trainMode.runningStatistics) {
    const t = carry(graph, stat.input, false);
    carried.push({ ...t, output: stat.output });
  }
  const stateBytes = carried.reduce((n, c) => n + elementCount(c.dims) * (c.type === DataType.DOUBLE ? 8 : 4), 0);
  const memory = options.memory && estimateStepMemory(model.graph, options.types, stateBytes, options.memory);
  if (memory) checkStepMemory(memory, options.memory!);
  graph.proto.output = [
    info(emitted.loss, outputType.type, []), info(output, outputType.type, outputType.dims),
    ...carried.map((c) => info(c.output, c.type, c.dims)),
  ];
  graph.pruneValueInfo();
  return {
    model: step, data: dataInputs(model), target, loss: emitted.loss, output, outputDims: outputType.dims, carried, parameters,
    dropoutMasks: trainMode.dropoutMasks, scalars,
    evaluation: compileEvaluation(model, loss, output, outputType, carried.filter((c) => c.initializer).map((c) => c.initializer!)),
    frozen, unused: trainable.filter((p) => !backward.grads.has(p)), memory,
  };
}

/** The model with `inputs` (initializers) turned into graph inputs, and the loss as an output. */
function compileEvaluation(model: Model, loss: LossKind, output: string, outputType: ValueType, inputs: string[]): CompiledGraph {
  const evaluation = new Model({ ...model.proto, graph: copyGraph(model.graph.proto) });
  for (const name of inputs) carry(evaluation.graph, name, false);
  const { target, emitted } = attachLoss(evaluation, loss, output, outputType, 'wn-onnx evaluation: loss');
  evaluation.graph.proto.output = [info(emitted.loss, outputType.type, []), info(output, outputType.type, outputType.dims)];
  return { model: evaluation, data: dataInputs(model), target, loss: emitted.loss, output, outputDims: outputType.dims };
}

export function copyGraph(proto: GraphProto): GraphProto {
  return { ...proto, node: [...(proto.node ?? [])], initializer: [...(proto.initializer ?? [])], input: [...(proto.input ?? [])], output: [...(proto.output ?? [])], value_info: [...(proto.value_info ?? [])] };
}

function appendBuilt(model: Model, b: Builder): void {
  model.addInitializers(b.initializers);
  model.graph.insertNodes(b.nodes, model.graph.nodes.length);
}

function info(name: string, type: DataType, dims: readonly (number | null)[]): ValueInfoProto {
  const value = tensorValueInfo(name, type, []);
  value.type!.tensor_type!.shape!.dim = dims.map((d) => (d === null ? { dim_param: 'batch' } : { dim_value: d }));
  return value;
}

function dataInputs(model: Model): string[] {
  return model.graph.inputs.map((i) => i.name ?? '').filter((name) => !model.graph.initializer(name));
}

/** Turns an initializer into a graph input (it stays listed once for IR < 4 models). */
function carry(graph: Graph, name: string, withOutput: boolean): CarriedTensor {
  const t = graph.initializer(name)!;
  const type = t.data_type as DataType;
  const dims = tensorDims(t);
  graph.replaceInitializer(name, []);
  if (graph.graphInputIndex(name) < 0) graph.appendGraphInputs([tensorValueInfo(name, type, dims)]);
  return { input: name, output: withOutput ? graph.uniqueName(`${name}.updated`) : '', type, dims, initializer: name };
}

/** The target input and the loss nodes on `output`, appended to the graph. */
function attachLoss(model: Model, loss: LossKind, output: string, outputType: ValueType, docString: string): { target: string; emitted: EmittedLoss } {
  const graph = model.graph;
  const target = graph.uniqueName(loss === 'cross-entropy' ? 'target_onehot' : 'target');
  graph.appendGraphInputs([info(target, outputType.type, outputType.dims)]);
  const b = new Builder(graph, model.defaultOpset(), 'loss', docString);
  const emitted = emitLoss(b, loss, output, outputType.dims, outputType.type, target);
  appendBuilt(model, b);
  return { target, emitted };
}

function singleType(graph: Graph, parameters: string[]): DataType {
  const kinds = new Set(parameters.map((p) => graph.initializer(p)!.data_type as DataType));
  if (kinds.size > 1) throw new WnError(`the trainable parameters mix ${[...kinds].map(dataTypeName).join(' and ')}; wn-onnx trains models with one parameter type (freeze the others with ${option('freeze')})`);
  return [...kinds][0];
}

function addScalars(graph: Graph, optimizer: OptimizerOptions, type: DataType): StepScalars {
  const scalar = (role: string) => {
    const name = graph.uniqueName(`optimizer.${role}`);
    graph.appendGraphInputs([tensorValueInfo(name, type, [])]);
    return name;
  };
  if (optimizer.kind === 'sgd') return { stepSize: scalar('lr') };
  return { stepSize: scalar('step_size'), beta1: scalar('beta1'), oneMinusBeta1: scalar('one_minus_beta1'), biasCorrection2Sqrt: scalar('bias_correction2_sqrt') };
}
