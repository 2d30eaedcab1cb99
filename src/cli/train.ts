/** `wn-onnx train`: the training loop at the edge (files, progress bar, checkpoints, plot). */
import { Option, type Command } from 'commander';
import { DEFAULT_BN_MOMENTUM } from '../train/train-mode';
import { SingleBar } from 'cli-progress';
import type * as ort from 'onnxruntime-common';
import { WnError } from '../errors';
import { saveModelFile } from '../node/model-file';
import { checkOutputFolder } from '../node/outputs';
import { runtimeFor } from '../node/runtime';
import { readDataItems } from '../node/sample-data';
import { readCheckpoint, writeCheckpoint } from '../node/checkpoint';
import { checkPlotFile, writePlot } from '../node/plot';
import { assignInputs, type InputArray } from '../data/batch';
import { inputSpecs } from '../ir/inputs';
import { inputTensor } from '../runtime/tensors';
import type { ExecutionProvider, Runtime } from '../runtime/ort';
import { Trainer } from '../train/trainer';
import { checkTargets, fit, SCHEDULES, TrainingDiverged, type Dataset, type EpochSummary, type Schedule } from '../train/fit';
import { LOSSES, type LossKind } from '../train/loss';
import { OPTIMIZERS, type OptimizerKind } from '../train/optimizer';
import { changedSettings, type Progress } from '../train/checkpoint';
import type { Model } from '../ir/model';
import { collect, epOption, fsyncOption, jsonOption, loadForRewrite, log, number, numberIn, outputOption, outputTarget, positiveInteger, printJson, regex, byteSize } from './options';
import { elementCount } from '../tensor/values';
import { size } from '../train/memory';
import { totalmem } from 'node:os';

interface TrainFlags {
  data: string[]; labels: string; output?: string; inPlace?: boolean; loss: LossKind; lossOutput?: string; optimizer: OptimizerKind;
  lr?: number; momentum: number; nesterov?: boolean; weightDecay: number; beta1: number; schedule: Schedule;
  batchSize: number; epochs: number; shuffle: boolean; seed: number; ep: ExecutionProvider; freeze?: RegExp;
  valData?: string[]; valLabels?: string; checkpoint?: string; resume?: string; plot?: string; fsync?: boolean; json?: boolean;
  bnMomentum: number; inputNoise: number; memoryBudget?: number; nchwc: boolean;
}

/** The default --memory-budget: this share of the machine's memory. */
const DEFAULT_MEMORY_SHARE = 0.8;

const DEFAULT_LR: Record<OptimizerKind, number> = { adam: 1e-3, sgd: 1e-2 };

/** The options that shape the step graph (loss, optimizer, normalization, provider): shared with export-train-step. */
export function stepOptions(command: Command): Command {
  return command
    .addOption(new Option('--loss <kind>', 'loss on the output').choices(LOSSES as string[]).default('cross-entropy'))
    .option('--loss-output <name>', 'model output the loss is on (default: the first)')
    .addOption(new Option('--optimizer <kind>', 'optimizer').choices(OPTIMIZERS as string[]).default('adam'))
    .option('--lr <x>', `learning rate (default ${DEFAULT_LR.adam} for adam, ${DEFAULT_LR.sgd} for sgd)`, number('--lr'))
    .option('--momentum <x>', 'sgd momentum', number('--momentum'), 0)
    .option('--nesterov', 'sgd with Nesterov momentum')
    .option('--weight-decay <x>', 'L2 penalty added to the gradients', number('--weight-decay'), 0)
    .option('--beta1 <x>', 'adam β1', number('--beta1'), 0.9)
    .option('--bn-momentum <x>', 'mean-only BN: the new batch mean\'s share in the running mean (as PyTorch\'s BatchNorm)', numberIn('--bn-momentum', 0, 1), DEFAULT_BN_MOMENTUM)
    .option('--freeze <regex>', 'keep the parameters whose names match fixed', regex)
    .addOption(epOption());
}

/** The step graph's settings from the shared options. */
export type StepFlags = Pick<TrainFlags, 'loss' | 'lossOutput' | 'optimizer' | 'lr' | 'momentum' | 'nesterov' | 'weightDecay' | 'beta1'
  | 'bnMomentum' | 'freeze' | 'ep'>;

export function learningRate(flags: StepFlags): number {
  const lr = flags.lr ?? DEFAULT_LR[flags.optimizer];
  if (!(lr > 0)) throw new WnError(`--lr must be positive, got ${lr}`);
  return lr;
}

export function trainerOptions(runtime: Runtime, flags: StepFlags) {
  return {
    runtime, ep: flags.ep, loss: flags.loss, output: flags.lossOutput, freeze: flags.freeze, bnMomentum: flags.bnMomentum,
    optimizer: { kind: flags.optimizer, momentum: flags.momentum, nesterov: flags.nesterov, weightDecay: flags.weightDecay },
  };
}

export function trainCommand(program: Command): void {
  const command = program.command('train')
    .description('train the model through ONNX Runtime (forward, loss, backward and optimizer compiled into one ONNX graph)')
    .argument('<model>', 'model to train (weight-normalized or plain)')
    .requiredOption('--data <[input=]file>', 'training inputs (.npy, .npz, IDX, .pb); repeat as input=file for several inputs', collect)
    .requiredOption('--labels <file>', 'targets: integer class labels for cross-entropy, values of the output\'s shape for mse and l1')
    .addOption(outputOption('trained model: the same form as the input (a weight-normalized model stays so; `fold` it for inference)'))
    .option('--in-place', 'write the trained model over the input model');
  stepOptions(command)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule; paper: the second half of the epochs lowers lr linearly toward 0 and sets β1 to 0.5').choices(SCHEDULES as string[]).default('constant'))
    .option('--batch-size <n>', 'samples per step', positiveInteger('--batch-size'), 100)
    .option('--memory-budget <size>', 'memory the training step may take (e.g. 8G): a step estimated over it is refused before training; '
      + 'Conv weight gradients keep their im2col within a sixteenth of it (default: 80% of this machine\'s memory)', byteSize('--memory-budget'))
    .option('--epochs <n>', 'passes over the data', positiveInteger('--epochs'), 10)
    .option('--no-shuffle', 'take the batches in file order')
    .option('--no-nchwc', 'run Convs and MaxPools on ONNX Runtime\'s generic CPU kernels rather than its NCHWc ones: the step exactly as '
      + 'export-train-step writes it (slower; the NCHWc kernels round differently)')
    .option('--seed <k>', 'seed for shuffling, dropout and input noise', number('--seed'), 0)
    .option('--input-noise <std>', 'add Gaussian noise of this standard deviation to the inputs at every training step', numberIn('--input-noise', 0), 0)
    .option('--val-data <[input=]file>', 'validation inputs (evaluated after every epoch)', collect)
    .option('--val-labels <file>', 'validation targets')
    .option('--checkpoint <dir>', 'write a checkpoint after every epoch into this folder')
    .option('--resume <dir>', 'continue from the latest checkpoint in this folder (same settings; gives what the uninterrupted run gives)')
    .option('--plot <file>', 'write the loss/accuracy curves (.svg or .png)')
    .addOption(fsyncOption())
    .addOption(jsonOption())
    .action(async (modelFile: string, flags: TrainFlags) => train(modelFile, flags));
}

function settingsOf(flags: TrainFlags, lr: number): Record<string, unknown> {
  return {
    loss: flags.loss, output: flags.lossOutput ?? null, optimizer: flags.optimizer, lr, momentum: flags.momentum, nesterov: !!flags.nesterov,
    weightDecay: flags.weightDecay, beta1: flags.beta1, schedule: flags.schedule, batchSize: flags.batchSize, shuffle: flags.shuffle,
    seed: flags.seed, freeze: flags.freeze?.source ?? null, ...(flags.schedule === 'paper' ? { epochs: flags.epochs } : {}),
    ...(flags.bnMomentum !== DEFAULT_BN_MOMENTUM ? { bnMomentum: flags.bnMomentum } : {}),
    ...(flags.inputNoise ? { inputNoise: flags.inputNoise } : {}),
    ...(flags.nchwc ? {} : { nchwc: false }),
  };
}

/** Inputs and targets, each file named in messages by its flag (`--data`/`--labels`, or the `--val-` ones). */
function readDataset(model: Model, items: string[], labelsFile: string, flags: { data: string; labels: string }): Dataset {
  const specs = inputSpecs(model);
  const inputs = assignInputs(specs, readDataItems(items, specs.map((s) => s.name), flags.data));
  const [labels] = readDataItems([labelsFile], [], flags.labels);
  if (labels.arrays.size !== 1) throw new WnError(`${flags.labels} ${labelsFile}: holds ${labels.arrays.size} arrays; pass a file with one array of targets`);
  const rows = inputs[0].array.shape[0];
  for (const input of inputs) {
    if (input.array.shape[0] !== rows) throw new WnError(`${input.source}: ${input.array.shape[0]} rows, other inputs have ${rows}`);
  }
  return { inputs, targets: [...labels.arrays.values()][0], source: labelsFile };
}

/** The probe batch: the model's fixed batch size, else 2 rows (Trainer.create probes a second size itself). */
function probeBatch(runtime: Runtime, inputs: InputArray[], batchSize: number): Record<string, ort.Tensor> {
  const fixed = inputs[0].spec.dims[0];
  if (fixed && fixed !== batchSize) throw new WnError(`input "${inputs[0].spec.name}" has a fixed batch size of ${fixed}, --batch-size is ${batchSize}; pass --batch-size ${fixed} or re-export the model with a dynamic batch axis`);
  const rows = fixed ?? Math.min(2, inputs[0].array.shape[0]);
  return Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, rows)]));
}

/**
 * The model loaded, every output and the data checked, and the trainer made on the model, which
 * keeps what it needs: the model itself stays here, so its weights are freed once this returns.
 */
async function prepare(modelFile: string, flags: TrainFlags, runtime: Runtime, budget: number) {
  // every output is checked before training starts, so no epoch is trained for nothing
  const loaded = loadForRewrite(modelFile, flags, [...flags.data, flags.labels, ...(flags.valData ?? []), flags.valLabels]);
  const output = outputTarget(modelFile, flags);
  if (flags.plot) checkPlotFile(flags.plot, loaded.files);
  const checkpointDir = flags.checkpoint ?? flags.resume;
  if (checkpointDir) checkOutputFolder(checkpointDir, '--checkpoint folder', loaded.files);
  const lr = learningRate(flags);
  const data = readDataset(loaded.model, flags.data, flags.labels, { data: '--data', labels: '--labels' });
  const validation = flags.valData ? readDataset(loaded.model, flags.valData, flags.valLabels!, { data: '--val-data', labels: '--val-labels' }) : undefined;
  const resumed = flags.resume ? readCheckpoint(flags.resume) : undefined;
  const settings = settingsOf(flags, lr);
  if (resumed) {
    const changed = changedSettings(resumed.progress.settings, settings);
    if (changed.length) throw new WnError(`--resume ${flags.resume}: the checkpoint was made with other settings (${changed.join(', ')}); resume with the original command line`);
  }
  const trainer = await Trainer.create(loaded.model, [probeBatch(runtime, data.inputs, flags.batchSize)], {
    ...trainerOptions(runtime, flags), seed: flags.seed, inputNoise: flags.inputNoise, nchwc: flags.nchwc,
    memory: { bytes: budget, batchRows: flags.batchSize },
  });
  return { files: loaded.files, output, checkpointDir, lr, data, validation, resumed, settings, trainer };
}

async function train(modelFile: string, flags: TrainFlags): Promise<void> {
  if ((flags.valData === undefined) !== (flags.valLabels === undefined)) throw new WnError('pass --val-data and --val-labels together');
  const runtime = runtimeFor(flags.ep);
  const budget = flags.memoryBudget ?? Math.floor(DEFAULT_MEMORY_SHARE * totalmem());
  const { files, output, checkpointDir, lr, data, validation, resumed, settings, trainer } = await prepare(modelFile, flags, runtime, budget);
  checkTargets(trainer, data);
  if (validation) checkTargets(trainer, validation);
  const history: EpochSummary[] = resumed ? [...resumed.progress.history] : [];
  if (resumed) {
    trainer.restore(resumed.state, resumed.progress.steps);
    log(`resuming from ${resumed.folder}: ${resumed.progress.epoch} of ${flags.epochs} epochs done`);
  }
  const { parameters, frozen, unused } = trainer.graph;
  const values = trainer.graph.carried.filter((c) => parameters.includes(c.input)).reduce((n, c) => n + elementCount(c.dims), 0);
  log(`training ${parameters.length} parameter tensors (${values} values) of ${modelFile}: ${flags.loss} on "${trainer.graph.output}", ${flags.optimizer} lr ${lr}, batch ${flags.batchSize}, ${data.targets.shape[0]} samples, ep ${flags.ep}`);
  log(`estimated step memory ${size(trainer.graph.memory!.bytes)} (budget ${size(budget)})`);
  if (frozen.length) log(`frozen by --freeze: ${frozen.join(', ')}`);
  if (unused.length) log(`not trained (they do not affect the loss): ${unused.join(', ')}`);

  let lastCheckpoint = resumed?.progress.epoch;
  const bar = new SingleBar({
    format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} | loss {loss} | {rate} samples/s | ETA {eta_formatted}',
    hideCursor: true, clearOnComplete: true,
  });
  try {
    await fit(trainer, data, {
      runtime, epochs: flags.epochs, batchSize: flags.batchSize, shuffle: flags.shuffle, seed: flags.seed, lr,
      beta1: flags.beta1, schedule: flags.schedule, validation, startEpoch: resumed?.progress.epoch,
      onBatch: (p) => {
        if (p.batch === 1) bar.start(p.batches, 0, { epoch: p.epoch, epochs: flags.epochs, loss: '', rate: '' });
        bar.update(p.batch, { loss: p.loss.toFixed(4), rate: Math.round(p.samples / p.seconds) });
      },
      onEpoch: async (summary) => {
        bar.stop();
        history.push(summary);
        log(describeEpoch(summary, flags.epochs));
        if (checkpointDir) {
          const progress: Progress = { epoch: summary.epoch, steps: trainer.steps, settings, history };
          writeCheckpoint(checkpointDir, trainer.trainedModel(), trainer.saved(), progress);
          lastCheckpoint = summary.epoch;
        }
        if (flags.plot) await writePlot(flags.plot, history);
      },
    });
  } catch (e) {
    bar.stop();
    if (e instanceof TrainingDiverged) {
      const kept = checkpointDir && lastCheckpoint ? `; the last good checkpoint (epoch ${lastCheckpoint}) is in ${checkpointDir}` : '; no checkpoint was written (pass --checkpoint DIR to keep one per epoch)';
      throw new WnError(`training stopped: ${e.message}${kept}; ${flags.output} was not written`);
    }
    throw e;
  } finally {
    await trainer.release();
  }
  saveModelFile(trainer.trainedModel(), output, { inputFiles: files, inPlace: flags.inPlace, fsync: flags.fsync });
  log(`wrote ${output}${flags.plot ? ` and ${flags.plot}` : ''}`);
  if (flags.json) printJson({ output, plot: flags.plot, epochs: history });
}

function describeEpoch(s: EpochSummary, epochs: number): string {
  const pct = (x?: number) => (x === undefined ? '' : ` ${(100 * x).toFixed(2)}%`);
  const parts = [`epoch ${s.epoch}/${epochs}`, `train loss ${s.trainLoss.toFixed(4)}${s.trainAccuracy !== undefined ? ` acc${pct(s.trainAccuracy)}` : ''}`];
  if (s.valLoss !== undefined) parts.push(`val loss ${s.valLoss.toFixed(4)}${s.valAccuracy !== undefined ? ` acc${pct(s.valAccuracy)}` : ''}`);
  parts.push(`${Math.round(s.samplesPerSecond)} samples/s`, `${s.seconds.toFixed(1)} s`, `lr ${s.lr.toPrecision(3)}`);
  return parts.join(' | ');
}
