/** The `wn-onnx` command line (the edge: arguments, files, printing, exit codes). */
import * as fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { collect, epOption, log, number, outputOptions, positiveInteger, regex, save } from './options';
import { trainCommand } from './train';
import { WnError } from '../errors';
import { convert } from '../../transforms/weight-norm';
import { fold } from '../../transforms/fold';
import { inspectModel, type LayerInfo, type Stats } from '../wn/inspect';
import { WEIGHT_NORM_OPS } from '../wn/layers';
import { loadModelFile } from '../node/model-file';
import { nodeRuntime } from '../node/runtime';
import { createSession, type ExecutionProvider } from '../runtime/session';
import { inputSpecs, randomFeeds } from '../runtime/feeds';
import { compareSessions } from '../runtime/verify';
import { assignInputs, batchRows, inputTensor } from '../data/batch';
import { readDataItems } from '../node/sample-data';
import { dataDependentInit, type DataInitReport } from '../runtime/data-init';
import type { Model } from '../ir/model';
import type * as ort from 'onnxruntime-common';

function opList(value: string): string[] {
  const ops = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ops.filter((op) => !(WEIGHT_NORM_OPS as readonly string[]).includes(op));
  if (unknown.length) throw new InvalidArgumentError(`unsupported op ${unknown.join(', ')}; choose from ${WEIGHT_NORM_OPS.join(',')}`);
  return ops;
}

const fmt = (x: number) => (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4));
const fmtStats = (s?: Stats) => (s ? `${fmt(s.min)} / ${fmt(s.mean)} / ${fmt(s.max)}` : '');

function printLayers(layers: LayerInfo[]): void {
  const rows = layers.map((l) => [
    l.node || '(unnamed)', l.op, l.input, l.form, l.shape ? `[${l.shape}]` : '', l.features?.toString() ?? '',
    l.form === 'weight-norm' ? fmtStats(l.g) : '', l.form === 'weight-norm' ? fmtStats(l.vNorm) : fmtStats(l.wNorm), l.note ?? '',
  ]);
  const header = ['node', 'op', 'weight', 'form', 'shape', 'features', 'g min/mean/max', '‖v‖ (plain: ‖W‖) min/mean/max', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  const wn = layers.filter((l) => l.form === 'weight-norm').length;
  console.log(`\n${layers.length} layer weights, ${wn} weight-normalized`);
}

/** Options of data-dependent init, shared by `init` and `convert --init`. */
function initOptions(cmd: Command): Command {
  return cmd
    .option('--batch-size <n>', `rows of the data that form the init batch (default: the input's fixed batch size, else ${DEFAULT_INIT_ROWS} or all rows if fewer)`, positiveInteger('--batch-size'))
    .option('--init-scale <s>', 'standard deviation every pre-activation starts with', number('--init-scale'), 1)
    .option('--resample-v', 'draw every direction v from N(0, std²) first (training from scratch)')
    .option('--std <x>', 'standard deviation for --resample-v', number('--std'), 0.05)
    .option('--seed <k>', 'seed for --resample-v', number('--seed'), 0)
    .option('--per-layer', 'one ONNX Runtime run per layer (the literal procedure; same result, slower)')
    .addOption(epOption());
}

const DEFAULT_INIT_ROWS = 500;

interface InitFlags { batchSize?: number; initScale: number; resampleV?: boolean; std: number; seed: number; perLayer?: boolean; ep: string }

async function initialize(model: Model, items: string[], flags: InitFlags): Promise<DataInitReport> {
  const runtime = nodeRuntime();
  const specs = inputSpecs(model);
  const inputs = assignInputs(specs, readDataItems(items, specs.map((s) => s.name)));
  const rows = batchRows(inputs[0], flags.batchSize ?? Math.min(DEFAULT_INIT_ROWS, inputs[0].array.shape[0] ?? 0));
  for (const input of inputs.slice(1)) batchRows(input, rows);
  const feeds = Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, rows)]));
  const { report } = await dataDependentInit(model, feeds, {
    runtime,
    scale: flags.initScale,
    resample: flags.resampleV ? { std: flags.std, seed: flags.seed } : undefined,
    ep: flags.ep as ExecutionProvider,
    strategy: flags.perLayer ? 'per-layer' : 'one-pass',
    onProgress: (line) => log(`init: ${line}`),
  });
  return report;
}

function printInitReport(report: DataInitReport): void {
  if (report.resampled.length) log(`resampled ${report.resampled.length} directions v from N(0, std²)`);
  for (const a of report.biases.added) log(`added bias ${a.bias} to "${a.node}"`);
  for (const s of report.biases.split) log(`split bias ${s.from}: "${s.node}" now has its own ${s.bias}`);
  const rows = report.layers.map((l) => [
    l.node || '(unnamed)', l.op, l.weight, String(l.features), fmtStats(l.mean), fmtStats(l.std), `${fmt(l.g.min)} .. ${fmt(l.g.max)}`,
    l.constantFeatures ? `${l.constantFeatures} features constant on the batch (g = s/sqrt(eps))` : '',
  ]);
  const header = ['node', 'op', 'weight', 'features', 'μ before min/mean/max', 'σ before min/mean/max', 'g range', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const row of [header, ...rows]) log(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  for (const r of report.recurrent) log(`kept ${r.op} "${r.node}" ${r.weight}: recurrent layers keep v and g = ‖v‖ (the paper's init applies where batch norm would, not to recurrence)`);
  for (const s of report.biases.skipped) log(`not initialized ${s.op} "${s.node}" ${s.weight}: ${s.reason}`);
  log(`${report.layers.length} layer${report.layers.length === 1 ? "" : "s"} initialized in ${report.runs} ONNX Runtime run${report.runs === 1 ? '' : 's'}; every initialized pre-activation now has mean 0 and std ${report.scale} on the batch`);
}

export function buildProgram(): Command {
  const program = new Command('wn-onnx')
    .description('Weight normalization (Salimans & Kingma, 2016) for ONNX models')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  outputOptions(program.command('convert')
    .description('rewrite layer weights W into weight-normalized g and v (W = g·v/‖v‖)')
    .argument('<model>', 'input model ("-" for standard input)'))
    .option('--ops <list>', `op types to convert (default: ${WEIGHT_NORM_OPS.join(',')})`, opList)
    .option('--include <regex>', 'convert only layers whose node or weight name matches', regex)
    .option('--exclude <regex>', 'leave layers whose node or weight name matches', regex)
    .option('--eps <value>', 'floor under ‖v‖ so zero weight vectors stay finite', number('--eps'), 1e-12)
    .option('--json', 'print the report as JSON on standard error')
    .option('--init <[input=]file>', 'then run data-dependent init on this data (see `wn-onnx init --help`); repeat as input=file for several inputs', collect);
  initOptions(program.commands[program.commands.length - 1])
    .action(async (input: string, flags) => {
      const loaded = loadModelFile(input);
      const { report } = convert(loaded.model, flags);
      const init = flags.init ? await initialize(loaded.model, flags.init, flags) : undefined;
      save(loaded, input, flags);
      if (flags.json) {
        log(JSON.stringify(init ? { convert: report, init } : report, null, 2));
        return;
      }
      for (const c of report.converted) {
        log(`converted ${c.weight} (${c.layers.map((l) => `${l.op} "${l.node}"`).join(', ')}): g ${c.g} [${c.view.map((d, i) => (c.keep.includes(i) ? d : 1))}], v ${c.v}`);
      }
      for (const s of report.skipped) log(`skipped   ${s.op} "${s.node}" input ${s.input}: ${s.reason}`);
      log(`${report.converted.length} weights converted, ${report.skipped.length} layer inputs skipped`);
      if (init) printInitReport(init);
    });

  outputOptions(initOptions(program.command('init')
    .description('data-dependent init (Salimans & Kingma, section 3): set g and b so every weight-normalized pre-activation has mean 0 and std s on a batch')
    .argument('<model>', 'weight-normalized model (from `wn-onnx convert`; "-" for standard input)')
    .requiredOption('--data <[input=]file>', 'sample data: .npy, .npz (arrays by input name), IDX (MNIST, gzipped or not) or TensorProto .pb; repeat as input=file for several inputs', collect)))
    .option('--json', 'print the report as JSON on standard error')
    .action(async (input: string, flags) => {
      const loaded = loadModelFile(input);
      const report = await initialize(loaded.model, flags.data, flags);
      save(loaded, input, flags);
      if (flags.json) log(JSON.stringify(report, null, 2));
      else printInitReport(report);
    });

  outputOptions(program.command('fold')
    .description('fold g and v back into plain weights, restoring the original operators')
    .argument('<model>', 'weight-normalized model ("-" for standard input)'))
    .action((input: string, flags) => {
      const loaded = loadModelFile(input);
      const { report } = fold(loaded.model);
      save(loaded, input, flags);
      for (const f of report.folded) log(`folded ${f.g}, ${f.v} -> ${f.weight} [${f.shape}]`);
      log(`${report.folded.length} weights folded`);
    });

  trainCommand(program);

  program.command('inspect')
    .description('list layer weights, which are weight-normalized, and g / ‖v‖ statistics')
    .argument('<model>', 'model ("-" for standard input)')
    .option('--json', 'print JSON')
    .action((input: string, flags) => {
      const layers = inspectModel(loadModelFile(input).model);
      if (flags.json) console.log(JSON.stringify(layers, null, 2));
      else printLayers(layers);
    });

  program.command('verify')
    .description('run two models on the same inputs through ONNX Runtime and report the largest difference')
    .argument('<a>', 'first model')
    .argument('<b>', 'second model')
    .option('--data <[input=]file.npy>', 'input data (.npy); repeat as input=file for several inputs (default: seeded random data)', collect)
    .option('--dim <name=value>', 'value of a symbolic dimension for random inputs (default 1)', collect)
    .option('--seed <n>', 'random input seed', number('--seed'), 0)
    .option('--rtol <x>', 'relative tolerance', number('--rtol'), 1e-4)
    .option('--atol <x>', 'absolute tolerance', number('--atol'), 1e-5)
    .addOption(epOption())
    .action(async (a: string, b: string, flags) => {
      const runtime = nodeRuntime();
      const modelA = loadModelFile(a);
      const specs = inputSpecs(modelA.model);
      const feeds = flags.data ? dataFeeds(runtime, specs, flags.data) : randomFeeds(runtime, specs, flags.seed, dimValues(flags.dim));
      const ep = flags.ep as ExecutionProvider;
      const [sa, sb] = [await createSession(runtime, a, ep), await createSession(runtime, b, ep)];
      const diffs = await compareSessions(sa, sb, feeds, flags);
      for (const d of diffs) {
        console.log(`${d.output}: max |a-b| ${d.maxAbs.toExponential(3)}, max rel ${d.maxRel.toExponential(3)} over ${d.elements} values${d.close ? '' : '  (exceeds tolerance)'}`);
      }
      const ok = diffs.every((d) => d.close);
      console.log(ok ? `match (rtol ${flags.rtol}, atol ${flags.atol}, ep ${ep})` : `MISMATCH (rtol ${flags.rtol}, atol ${flags.atol}, ep ${ep})`);
      if (!ok) process.exitCode = 1;
    });
  return program;
}

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

function dataFeeds(runtime: ReturnType<typeof nodeRuntime>, specs: ReturnType<typeof inputSpecs>, items: string[]): Record<string, ort.Tensor> {
  const inputs = assignInputs(specs, readDataItems(items, specs.map((s) => s.name)));
  return Object.fromEntries(inputs.map((input) => [input.spec.name, inputTensor(runtime, input, batchRows(input))]));
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code?.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    if (e instanceof WnError) {
      log(`wn-onnx: error: ${e.message}`);
      process.exitCode = 1;
      return;
    }
    log(`wn-onnx: internal error: ${(e as Error).message ?? e} (set WN_ONNX_DEBUG=1 for details)`);
    if (process.env.WN_ONNX_DEBUG) log((e as Error).stack ?? '');
    process.exitCode = 3;
  }
}
