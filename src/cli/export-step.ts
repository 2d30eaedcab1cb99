/**
 * `wn-onnx export-train-step`: writes the compiled training step (forward, loss, backward,
 * optimizer) as a plain ONNX model any ONNX Runtime trains with, and prints its contract.
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { WnError } from '../errors';
import { inputSpecs } from '../ir/inputs';
import { randomFeeds } from '../runtime/tensors';
import { Trainer } from '../train/trainer';
import { exportTrainingStep } from '../train/export-step';
import { runtimeFor } from '../node/runtime';
import { saveModelFile } from '../node/model-file';
import { checkOutputFile } from '../node/outputs';
import { jsonOption, loadForRewrite, log, outputTarget, printJson } from './options';
import { learningRate, stepOptions, trainerOptions, type StepFlags } from './train';

interface ExportFlags extends StepFlags { output?: string; json?: boolean }

export function exportStepCommand(program: Command): void {
  const command = program.command('export-train-step')
    .description('write the training step (forward, loss, backward, optimizer) as a plain ONNX model, with its contract')
    .argument('<model>', 'model to train (weight-normalized or plain)')
    .addOption(new Option('-o, --output <file>', 'the step model; its start model goes beside it (STEP.start.onnx)'));
  stepOptions(command)
    .addOption(jsonOption())
    .action(async (modelFile: string, flags: ExportFlags) => exportStep(modelFile, flags));
}

async function exportStep(modelFile: string, flags: ExportFlags): Promise<void> {
  const loaded = loadForRewrite(modelFile, flags, []);
  const output = outputTarget(modelFile, flags);
  if (output === '-') throw new WnError('export-train-step writes two files (the step and its start): give -o a file name, not "-"');
  const startFile = `${output.replace(/\.onnx$/, '')}.start.onnx`;
  checkOutputFile(startFile, { inputFiles: loaded.files });
  const lr = learningRate(flags);
  const runtime = runtimeFor(flags.ep);
  // the probe: random rows, two per symbolic dim (Trainer.create probes a second size, so the batch axis stays free)
  const specs = inputSpecs(loaded.model);
  const symbolic = [...new Set(specs.flatMap((s) => s.params).filter((p): p is string => !!p))];
  const probe = randomFeeds(runtime, specs, 0, Object.fromEntries(symbolic.map((name) => [name, 2])));
  const options = trainerOptions(runtime, flags);
  const trainer = await Trainer.create(loaded.model, [probe], options);
  const settings = { lr, beta1: flags.beta1 };
  const { model, start, contract } = exportTrainingStep(trainer.graph, trainer.saved(), options.optimizer, settings, flags.loss, path.basename(startFile));
  await trainer.release();
  saveModelFile(model, output, { inputFiles: loaded.files });
  saveModelFile(start, startFile, { inputFiles: loaded.files });
  if (flags.json) {
    printJson(contract);
    return;
  }
  log(`wrote ${output} (the training step of ${modelFile}: ${flags.optimizer} lr ${lr}) and ${startFile} (its ${contract.carried.length} carried tensors' start)`);
  log(`feed ${[...contract.data, contract.target.input, ...contract.scalars.map((s) => s.input)].join(', ')}; `
    + 'each output ending in .updated goes back into the input of its name (the contract: --json)');
}
