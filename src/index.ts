/**
 * wn-onnx's library API. Everything here runs in a browser too: it works on byte arrays and
 * models in memory. File access lives in `wn-onnx/node` (src/node.ts).
 */
export { WnError } from './errors';
export { DataType, AttributeType, DataLocation } from './onnx/enums';
export type * from './onnx/proto';
export { decodeModel, encodeModel, encodeModelChunks, concatChunks } from './onnx/codec';
export { resolveExternalData, planExternalData, inlineAll, forEachTensor } from './onnx/external';
export { Model, MIN_OPSET } from './ir/model';
export { Graph } from './ir/graph';
export { convert, type ConvertOptions, type ConvertReport } from '../transforms/weight-norm';
export { fold, type FoldReport } from '../transforms/fold';
export { inspectModel, type LayerInfo } from './wn/inspect';
export { WEIGHT_NORM_OPS } from './wn/layers';
export { DEFAULT_EPS, type WeightNormSpec } from './wn/spec';
export { createSession, runSession, EXECUTION_PROVIDERS, type ExecutionProvider, type Runtime } from './runtime/session';
export { inputSpecs, randomFeeds, type InputSpec } from './runtime/feeds';
export { compareSessions, type OutputDifference } from './runtime/verify';
export { dataDependentInit, type DataInitOptions, type DataInitReport } from './runtime/data-init';
export { addLayerBiases, type BiasedLayer } from '../transforms/layer-bias';
export { compileInitGraph } from '../transforms/init-graph';
export { resampleDirections } from '../transforms/resample-v';
export { readSampleData } from './data/sample-data';
export { assignInputs, batchRows, inputTensor, type SampleSource } from './data/batch';
export type { NdArray } from './data/array';
export { compileTrainingGraph, type TrainingGraph, type TrainingGraphOptions, type CarriedTensor } from '../transforms/training-step';
export { buildBackward, type Backward, type BackwardOptions } from './autodiff/backward';
export { differentiableOps } from './autodiff/registry';
export type { GradientRule, GradContext } from './autodiff/rule';
export { probeValueTypes } from './runtime/value-probe';
export { Trainer, type TrainerOptions, type StepSettings, type StepResult } from './train/trainer';
export { fit, evaluate, checkTargets, scheduledSettings, TrainingDiverged, type Dataset, type FitOptions, type EpochSummary } from './train/fit';
export type { OptimizerOptions } from './train/optimizer';
export type { LossKind } from './train/loss';

import { decodeModel, encodeModelChunks, concatChunks } from './onnx/codec';
import { inlineAll } from './onnx/external';
import { Model } from './ir/model';

/** Parses a model from bytes (external data: call resolveExternalData on model.proto). */
export function loadModel(bytes: Uint8Array): Model {
  return new Model(decodeModel(bytes));
}

/** Serializes a model with every tensor inline (what a runtime session takes). */
export function saveModel(model: Model): Uint8Array {
  return concatChunks(encodeModelChunks(model.proto, inlineAll));
}
