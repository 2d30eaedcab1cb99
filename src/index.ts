/**
 * wn-onnx's library API. Everything here runs in a browser too: it works on byte arrays and
 * models in memory, and takes the onnxruntime package as a parameter. File access lives in
 * `wn-onnx/node` (src/node.ts).
 */
export { WnError } from './errors';
export { DataType, AttributeType, DataLocation } from './onnx/enums';
export type * from './onnx/proto';
export { decodeModel, encodeModel, encodeModelChunks, concatChunks } from './onnx/codec';
export { resolveExternalData, planExternalData, inlineAll, forEachTensor } from './onnx/external';
export { Model, MIN_OPSET, loadModel, saveModel } from './ir/model';
export { Graph } from './ir/graph';
export { validateModel } from './ir/validate';
export { checkWeightNormMarks } from './wn/spec';
export { inputSpecs, type InputSpec } from './ir/inputs';
export { convert, type ConvertOptions, type ConvertReport } from '../transforms/weight-norm';
export { fold, type FoldReport } from '../transforms/fold';
export { addMeanOnlyBatchNorm, type MeanOnlyBnReport } from '../transforms/mean-only-bn';
export { addLayerBiases, type BiasedLayer } from './wn/layer-bias';
export { compileInitGraph } from '../transforms/data-init/init-graph';
export { resampleDirections } from '../transforms/data-init/resample-v';
export type { DataInitReport } from '../transforms/data-init';
export { inspectModel, type LayerInfo } from './wn/inspect';
export { WEIGHT_NORM_OPS } from './wn/layers';
export { DEFAULT_EPS, type WeightNormSpec } from './wn/spec';
export { Session, withSession, runModel, sessionModel, type SessionModel, type SessionSettings } from './runtime/session';
export { EXECUTION_PROVIDERS, type ExecutionProvider, type Runtime } from './runtime/ort';
export { randomFeeds, inputTensor } from './runtime/tensors';
export { compareModels, type OutputDifference } from './runtime/verify';
export { probeValueTypes, probeBatchSizes } from './runtime/value-probe';
export { readSampleData } from './data/sample-data';
export { assignInputs, batchRows, type SampleSource } from './data/batch';
export type { NdArray } from './data/array';
export { dataDependentInit, type DataInitOptions } from './train/data-init';
export { compileTrainingGraph, type TrainingGraph, type TrainingGraphOptions, type CarriedTensor } from './train/step-graph';
export { buildBackward, type Backward, type BackwardOptions } from './autodiff/backward';
export { differentiableOps } from './autodiff/registry';
export type { GradientRule, GradContext } from './autodiff/rule';
export { Trainer, type TrainerOptions, type StepSettings, type StepResult } from './train/trainer';
export { exportTrainingStep, STEP_CONTRACT_KEY, type StepContract } from './train/export-step';
export { fit, evaluate, checkTargets, scheduledSettings, TrainingDiverged, type Dataset, type FitOptions, type EpochSummary } from './train/fit';
export type { OptimizerOptions } from './train/optimizer';
export type { LossKind } from './train/loss';
