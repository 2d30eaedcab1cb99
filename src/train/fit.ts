/**
 * The training loop: epochs of (shuffled) batches through a Trainer, the learning-rate
 * schedule, running loss/accuracy, validation after each epoch, and a hook the caller uses to
 * checkpoint. Shuffling and dropout draw from streams seeded by (seed, epoch) and (seed, step),
 * so a run resumed after epoch k continues exactly as the uninterrupted run.
 */
import type * as ort from 'onnxruntime-common';
import { option, WnError } from '../errors';
import { isFloatDtype, type NdArray } from '../data/array';
import type { InputArray } from '../data/batch';
import { seededRandom } from '../tensor/random';
import { inputTensor } from '../runtime/tensors';
import type { Runtime } from '../runtime/ort';
import type { StepSettings, Trainer } from './trainer';
import { elementCount } from '../tensor/values';

export type Schedule = 'constant' | 'paper';
export const SCHEDULES: readonly Schedule[] = ['constant', 'paper'];

/** Inputs and targets: integer class labels (cross-entropy) or values of the output's shape (mse, l1). */
export interface Dataset {
  inputs: InputArray[];
  targets: NdArray;
  /** Where the targets came from (for messages). */
  source: string;
}

export interface FitOptions {
  runtime: Runtime;
  epochs: number;
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  lr: number;
  /** adam's β1 (default 0.9). */
  beta1?: number;
  schedule?: Schedule;
  validation?: Dataset;
  /** Epochs already done (a resumed run). */
  startEpoch?: number;
  onBatch?: (progress: BatchProgress) => void;
  /** Called after each epoch (and its validation); awaited, so a checkpoint lands before the next. */
  onEpoch?: (summary: EpochSummary) => Promise<void> | void;
}

export interface BatchProgress { epoch: number; batch: number; batches: number; samples: number; loss: number; seconds: number }

export interface EpochSummary {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  /** Accuracy of the training batches as they were trained (cross-entropy only). */
  trainAccuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  samplesPerSecond: number;
  seconds: number;
  lr: number;
}

/** The paper's schedule: constant for the first half of the epochs, then lr linearly toward 0 and β1 0.5. */
export function scheduledSettings(schedule: Schedule, lr: number, beta1: number, epoch: number, epochs: number): StepSettings {
  if (schedule === 'constant' || epoch < epochs / 2) return { lr, beta1 };
  return { lr: lr * Math.min(2 - epoch / (epochs / 2), 1), beta1: 0.5 };
}

export class TrainingDiverged extends WnError {}

export async function fit(trainer: Trainer, data: Dataset, options: FitOptions): Promise<EpochSummary[]> {
  const { epochs, batchSize, shuffle = true, seed = 0, schedule = 'constant', beta1 = 0.9 } = options;
  const classification = trainer.lossKind === 'cross-entropy';
  const rows = data.targets.shape[0];
  const batches = Math.ceil(rows / batchSize);
  const summaries: EpochSummary[] = [];
  for (let epoch = options.startEpoch ?? 0; epoch < epochs; epoch++) {
    const settings = scheduledSettings(schedule, options.lr, beta1, epoch, epochs);
    const order = shuffle ? permutation(rows, seed, epoch) : Uint32Array.from({ length: rows }, (_, i) => i);
    const started = performance.now();
    let lossSum = 0;
    let correct = 0;
    for (let b = 0; b < batches; b++) {
      const indices = order.subarray(b * batchSize, Math.min(rows, (b + 1) * batchSize));
      const { feeds, target } = batchFeeds(options.runtime, trainer, data, indices);
      const result = await trainer.step(feeds, target, settings);
      if (!Number.isFinite(result.loss)) {
        throw new TrainingDiverged(`the loss became ${result.loss} at epoch ${epoch + 1}, batch ${b + 1}; lower the learning rate (${option('lr')}) or check the data`);
      }
      lossSum += result.loss * indices.length;
      if (classification) correct += countCorrect(result.output, data.targets, indices);
      const seconds = (performance.now() - started) / 1000;
      options.onBatch?.({ epoch: epoch + 1, batch: b + 1, batches, samples: (b * batchSize) + indices.length, loss: result.loss, seconds });
    }
    const seconds = (performance.now() - started) / 1000;
    const summary: EpochSummary = {
      epoch: epoch + 1, trainLoss: lossSum / rows, samplesPerSecond: rows / seconds, seconds, lr: settings.lr,
      ...(classification ? { trainAccuracy: correct / rows } : {}),
    };
    if (options.validation) Object.assign(summary, await evaluate(trainer, options.validation, batchSize, options.runtime));
    summaries.push(summary);
    await options.onEpoch?.(summary);
  }
  return summaries;
}

/** Validation loss (mean over samples) and accuracy with the current parameters. */
export async function evaluate(trainer: Trainer, data: Dataset, batchSize: number, runtime: Runtime): Promise<{ valLoss: number; valAccuracy?: number }> {
  const classification = trainer.lossKind === 'cross-entropy';
  const rows = data.targets.shape[0];
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < rows; start += batchSize) {
    const indices = Uint32Array.from({ length: Math.min(batchSize, rows - start) }, (_, i) => start + i);
    const { feeds, target } = batchFeeds(runtime, trainer, data, indices);
    const result = await trainer.evaluate(feeds, target);
    lossSum += result.loss * indices.length;
    if (classification) correct += countCorrect(result.output, data.targets, indices);
  }
  return { valLoss: lossSum / rows, ...(classification ? { valAccuracy: correct / rows } : {}) };
}

function batchFeeds(runtime: Runtime, trainer: Trainer, data: Dataset, indices: Uint32Array): { feeds: Record<string, ort.Tensor>; target: ort.Tensor } {
  const feeds = Object.fromEntries(data.inputs.map((input) => [input.spec.name, inputTensor(runtime, input, indices)]));
  return { feeds, target: trainer.targetTensor(data.targets, indices) };
}

/** Checks targets against the model output before training starts (one line per problem). */
export function checkTargets(trainer: Trainer, data: Dataset): void {
  const { targets, source } = data;
  const rows = data.inputs[0]?.array.shape[0];
  if (targets.shape[0] !== rows) throw new WnError(`${source}: ${targets.shape[0]} targets for ${rows} samples; the labels must have one row per sample`);
  const outputDims = trainer.outputDims;
  if (trainer.lossKind === 'cross-entropy') {
    const classes = outputDims[1]!;
    if (isFloatDtype(targets.dtype)) throw new WnError(`${source}: cross-entropy needs integer class labels, the file holds ${targets.dtype}; use ${option('loss')} mse for real-valued targets`);
    if (targets.shape.length !== 1) throw new WnError(`${source}: class labels must be one integer per sample (shape [N]), the file has shape [${targets.shape}]`);
    for (let i = 0; i < targets.data.length; i++) {
      const label = Number(targets.data[i]);
      if (!(label >= 0 && label < classes)) throw new WnError(`${source}: label ${label} at row ${i} is outside the model's ${classes} classes (0..${classes - 1})`);
    }
    return;
  }
  const perRow = elementCount(targets.shape.slice(1));
  const expected = elementCount(outputDims.slice(1).map((d) => d ?? 1));
  if (perRow !== expected) throw new WnError(`${source}: targets of shape [${targets.shape}] do not match the model output [${outputDims.map((d) => d ?? 'N')}]`);
}

/** Fisher–Yates with a stream seeded by (seed, epoch). */
function permutation(n: number, seed: number, epoch: number): Uint32Array {
  const random = seededRandom(((seed * 0x85ebca6b) ^ (epoch * 0xc2b2ae35)) >>> 0);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function countCorrect(output: ort.Tensor, labels: NdArray, indices: Uint32Array): number {
  const logits = output.data as Float32Array;
  const classes = output.dims[1];
  let correct = 0;
  for (let r = 0; r < indices.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
    if (best === Number(labels.data[indices[r]])) correct++;
  }
  return correct;
}
