/**
 * The compiled training step as a portable artifact: the step graph (forward in training mode,
 * loss, backward, optimizer update) as a plain ONNX model whose carried tensors (parameters,
 * optimizer state, running statistics) are inputs that come back updated as outputs, and a
 * second model with no inputs whose outputs are the carried tensors' starting values, under the
 * step's input names (initializers that are also inputs would be the natural home, but
 * onnxruntime-node drops feeds of such inputs: the defaults would win every step). Any ONNX
 * Runtime (any binding, any provider) trains with the two; the contract says which input is
 * what and which output feeds which input.
 */
import { Model } from '../ir/model';
import { makeModel, makeNode } from '../ir/make';
import { tensorValueInfo } from '../ir/graph';
import { floatTensor } from '../tensor/values';
import type { SavedTensor, StepSettings } from './trainer';
import type { TrainingGraph } from './step-graph';
import type { OptimizerOptions } from './optimizer';
import type { LossKind } from './loss';

export const STEP_CONTRACT_KEY = 'wn-onnx.train_step';

/** What a step input is fed each step: t is the step number, from 1. */
export type ScalarRole = 'lr' | 'lr / (1 - beta1^t)' | 'beta1' | '1 - beta1' | 'sqrt(1 - beta2^t)';

export interface StepContract {
  format: 'wn-onnx train step 1';
  /** Model inputs fed with each batch, as the model takes them. */
  data: string[];
  /** The target: one-hot rows of `classes` (cross-entropy) or values of the output's shape (mse, l1). */
  target: { input: string; loss: LossKind; classes?: number };
  /** Outputs: the batch's mean loss and the model output it is on. */
  loss: string;
  output: string;
  /** Scalar inputs of each step (float, shape []), by what they hold. */
  scalars: { input: string; value: ScalarRole }[];
  /** The optimizer's settings the scalars are computed from; the rest are constants in the graph. */
  optimizer: OptimizerOptions & { lr: number; beta1?: number };
  /** Fed back: each run's `output` is the next run's `input` (the first run takes the start model's output of that name). */
  carried: { input: string; output: string; role: 'parameter' | 'optimizer state' | 'running statistic' }[];
  /** The start model's file: run it once (no inputs) for the first step's carried inputs. */
  start: string;
  /** Dropout masks to feed each step: Bernoulli(keep) / keep, of the dims given (null: the batch size). */
  dropoutMasks: { input: string; keep: number; dims: (number | null)[] }[];
}

/**
 * The step graph of `graph` with its contract (also under STEP_CONTRACT_KEY in its metadata), and
 * the start model, whose outputs are `state` (Trainer.saved(): the carried tensors as they are now).
 */
export function exportTrainingStep(
  graph: TrainingGraph, state: readonly SavedTensor[], optimizer: OptimizerOptions, settings: StepSettings, loss: LossKind,
  startFile: string,
): { model: Model; start: Model; contract: StepContract } {
  const adam = optimizer.kind === 'adam';
  const s = graph.scalars;
  const scalars: StepContract['scalars'] = adam
    ? [
      { input: s.stepSize, value: 'lr / (1 - beta1^t)' }, { input: s.beta1!, value: 'beta1' },
      { input: s.oneMinusBeta1!, value: '1 - beta1' }, { input: s.biasCorrection2Sqrt!, value: 'sqrt(1 - beta2^t)' },
    ]
    : [{ input: s.stepSize, value: 'lr' }];
  const classes = graph.outputDims[graph.outputDims.length - 1];
  const contract: StepContract = {
    format: 'wn-onnx train step 1',
    data: graph.data,
    target: { input: graph.target, loss, ...(loss === 'cross-entropy' && classes !== null ? { classes } : {}) },
    loss: graph.loss,
    output: graph.output,
    scalars,
    optimizer: {
      ...optimizer, lr: settings.lr,
      ...(adam ? { beta1: settings.beta1 ?? 0.9, beta2: optimizer.beta2 ?? 0.999, eps: optimizer.eps ?? 1e-8 } : {}),
    },
    carried: graph.carried.map((c) => ({
      input: c.input, output: c.output,
      // carried tensors that start from an initializer and do not train are running statistics
      role: graph.parameters.includes(c.input) ? 'parameter' : c.initializer ? 'running statistic' : 'optimizer state',
    })),
    start: startFile,
    dropoutMasks: graph.dropoutMasks.map((m) => ({ input: m.input, keep: m.keep, dims: m.dims })),
  };
  const proto = graph.model.proto;
  const metadata = [...(proto.metadata_props ?? []).filter((p) => p.key !== STEP_CONTRACT_KEY), { key: STEP_CONTRACT_KEY, value: JSON.stringify(contract) }];
  const model = new Model({ ...proto, metadata_props: metadata });
  const start = makeModel({
    opset: graph.model.defaultOpset(), name: 'wn-onnx training step: start',
    inputs: [],
    outputs: state.map((t) => tensorValueInfo(t.name, t.type, t.dims)),
    initializers: state.map((t) => floatTensor(`${t.name}.start`, t.type, t.dims, t.data)),
    nodes: state.map((t) => makeNode('Identity', [`${t.name}.start`], [t.name])),
  });
  return { model, start, contract };
}
