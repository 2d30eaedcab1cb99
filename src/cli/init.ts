/** `wn-onnx init`: data-dependent init of a weight-normalized model; its options serve `convert --init` too. */
import type { Command } from 'commander';
import type { Model } from '../ir/model';
import { inputSpecs } from '../ir/inputs';
import { assignInputs, batchRows } from '../data/batch';
import { inputTensor } from '../runtime/tensors';
import type { ExecutionProvider } from '../runtime/ort';
import type { DataInitReport } from '../../transforms/data-init';
import { dataDependentInit } from '../train/data-init';
import { runtimeFor } from '../node/runtime';
import { readDataItems } from '../node/sample-data';
import { fmt, fmtStats, table } from './format';
import { collect, epOption, jsonOption, loadForRewrite, log, number, outputOptions, positiveInteger, printJson, save } from './options';

const DEFAULT_INIT_ROWS = 500;

export interface InitFlags { batchSize?: number; initScale: number; resampleV?: boolean; std: number; seed: number; perLayer?: boolean; ep: string }

/** Options of data-dependent init, shared by `init` and `convert --init`. */
export function initOptions(cmd: Command): Command {
  return cmd
    .option('--batch-size <n>', `rows of the data that form the init batch (default: the input's fixed batch size, else ${DEFAULT_INIT_ROWS} or all rows if fewer)`, positiveInteger('--batch-size'))
    .option('--init-scale <s>', 'standard deviation every pre-activation starts with', number('--init-scale'), 1)
    .option('--resample-v', 'draw every direction v from N(0, std²) first (training from scratch)')
    .option('--std <x>', 'standard deviation for --resample-v', number('--std'), 0.05)
    .option('--seed <k>', 'seed for --resample-v', number('--seed'), 0)
    .option('--per-layer', 'one ONNX Runtime run per layer (the literal procedure; same result, slower)')
    .addOption(epOption());
}

/** Runs data-dependent init on the model with the data files given. */
export async function initialize(model: Model, items: string[], flags: InitFlags): Promise<DataInitReport> {
  const ep = flags.ep as ExecutionProvider;
  const runtime = runtimeFor(ep);
  const specs = inputSpecs(model);
  const inputs = assignInputs(specs, readDataItems(items, specs.map((s) => s.name)));
  const rows = batchRows(inputs[0], flags.batchSize ?? Math.min(DEFAULT_INIT_ROWS, inputs[0].array.shape[0] ?? 0));
  for (const input of inputs.slice(1)) batchRows(input, rows);
  const feeds = Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, rows)]));
  const { report } = await dataDependentInit(model, feeds, {
    runtime,
    scale: flags.initScale,
    resample: flags.resampleV ? { std: flags.std, seed: flags.seed } : undefined,
    ep,
    strategy: flags.perLayer ? 'per-layer' : 'one-pass',
    onProgress: (line) => log(`init: ${line}`),
  });
  return report;
}

export function printInitReport(report: DataInitReport): void {
  if (report.resampled.length) log(`resampled ${report.resampled.length} directions v from N(0, std²)`);
  for (const a of report.biases.added) log(`added bias ${a.bias} to "${a.node}"`);
  for (const s of report.biases.split) log(`split bias ${s.from}: "${s.node}" now has its own ${s.bias}`);
  const rows = report.layers.map((l) => [
    l.node || '(unnamed)', l.op, l.weight, String(l.features), fmtStats(l.mean), fmtStats(l.std), `${fmt(l.g.min)} .. ${fmt(l.g.max)}`,
    l.constantFeatures ? `${l.constantFeatures} features constant on the batch (g = s/sqrt(eps))` : '',
  ]);
  const header = ['node', 'op', 'weight', 'features', 'μ before min/mean/max', 'σ before min/mean/max', 'g range', 'note'];
  for (const line of table(header, rows)) log(line);
  for (const r of report.recurrent) log(`kept ${r.op} "${r.node}" ${r.weight}: recurrent layers keep v and g = ‖v‖ (the paper's init applies where batch norm would, not to recurrence)`);
  for (const s of report.biases.skipped) log(`not initialized ${s.op} "${s.node}" ${s.weight}: ${s.reason}`);
  const layers = `${report.layers.length} layer${report.layers.length === 1 ? '' : 's'}`;
  log(`${layers} initialized in ${report.runs} ONNX Runtime run${report.runs === 1 ? '' : 's'}; every initialized pre-activation now has mean 0 and std ${report.scale} on the batch`);
}

export function initCommand(program: Command): void {
  outputOptions(initOptions(program.command('init')
    .description('data-dependent init (Salimans & Kingma, section 3): set g and b so every weight-normalized pre-activation has mean 0 and std s on a batch')
    .argument('<model>', 'weight-normalized model (from `wn-onnx convert`; "-" for standard input)')
    .requiredOption('--data <[input=]file>', 'sample data: .npy, .npz (arrays by input name), IDX (MNIST, gzipped or not) or TensorProto .pb; repeat as input=file for several inputs', collect)))
    .addOption(jsonOption())
    .action(async (input: string, flags) => {
      const loaded = loadForRewrite(input, flags, flags.data);
      const report = await initialize(loaded.model, flags.data, flags);
      save(loaded, input, flags);
      if (flags.json) printJson(report);
      else printInitReport(report);
    });
}
