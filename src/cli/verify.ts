/** `wn-onnx verify`: two models on the same inputs through ONNX Runtime, the largest differences per output. */
import * as os from 'node:os';
import type { Command } from 'commander';
import type * as ort from 'onnxruntime-common';
import { WnError } from '../errors';
import { inputSpecs, type InputSpec } from '../ir/inputs';
import { assignInputs, batchRows } from '../data/batch';
import type { ExecutionProvider, Runtime } from '../runtime/ort';
import { inputTensor, randomFeeds } from '../runtime/tensors';
import { compareModels } from '../runtime/verify';
import { loadModelFile } from '../node/model-file';
import { runtimeFor } from '../node/runtime';
import { readDataItems } from '../node/sample-data';
import { collect, epOption, jsonOption, number, print, printJson } from './options';

/**
 * Random inputs may take 1/this of the machine's memory: the values inside a model take many
 * times its inputs (a 16-channel Conv's output alone is 16 times a 1-channel image).
 */
const MEMORY_PER_RANDOM_INPUTS = 16;

function dimValues(pairs: string[] = []): Record<string, number> {
  const values: Record<string, number> = {};
  for (const pair of pairs) {
    const [name, value] = pair.split('=');
    const n = Number(value);
    if (!name || !Number.isInteger(n) || n < 1) throw new WnError(`--dim "${pair}": expected name=positive integer`);
    values[name] = n;
  }
  return values;
}

function dataFeeds(runtime: Runtime, specs: InputSpec[], items: string[]): Record<string, ort.Tensor> {
  const inputs = assignInputs(specs, readDataItems(items, specs.map((s) => s.name)));
  return Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, batchRows(input))]));
}

export function verifyCommand(program: Command): void {
  program.command('verify')
    .description('run two models on the same inputs through ONNX Runtime and report the largest difference')
    .argument('<a>', 'first model ("-" for standard input)')
    .argument('<b>', 'second model ("-" for standard input, if the first is not)')
    .option('--data <[input=]file.npy>', 'input data (.npy); repeat as input=file for several inputs (default: seeded random data)', collect)
    .option('--dim <name=value>', `value of a symbolic dimension for random inputs (default 1; all inputs together take at most 1/${
      MEMORY_PER_RANDOM_INPUTS} of the memory)`, collect)
    .option('--seed <n>', 'random input seed', number('--seed'), 0)
    .option('--rtol <x>', 'relative tolerance', number('--rtol'), 1e-4)
    .option('--atol <x>', 'absolute tolerance', number('--atol'), 1e-5)
    .addOption(epOption())
    .addOption(jsonOption())
    .action(async (a: string, b: string, flags) => {
      if (a === '-' && b === '-') throw new WnError('only one of the two models can come from standard input');
      const ep = flags.ep as ExecutionProvider;
      const runtime = runtimeFor(ep);
      const [modelA, modelB] = [loadModelFile(a).model, loadModelFile(b).model];
      const specs = inputSpecs(modelA);
      const feeds = flags.data ? dataFeeds(runtime, specs, flags.data)
        : randomFeeds(runtime, specs, flags.seed, dimValues(flags.dim), os.totalmem() / MEMORY_PER_RANDOM_INPUTS);
      const diffs = await compareModels(runtime, modelA, modelB, feeds, flags, { ep });
      const match = diffs.every((d) => d.close);
      if (flags.json) {
        printJson({ outputs: diffs, rtol: flags.rtol, atol: flags.atol, ep, match });
      } else {
        const lines = diffs.map((d) => `${d.output}: max |a-b| ${d.maxAbs.toExponential(3)}, max rel ${d.maxRel.toExponential(3)}`
          + ` over ${d.elements} values${d.close ? '' : '  (exceeds tolerance)'}`);
        print([...lines, `${match ? 'match' : 'MISMATCH'} (rtol ${flags.rtol}, atol ${flags.atol}, ep ${ep})`].join('\n'));
      }
      if (!match) process.exitCode = 1;
    });
}
