/** `wn-onnx convert`: weights into weight-normalized g and v, optionally followed by data-dependent init. */
import { InvalidArgumentError, type Command } from 'commander';
import { convert } from '../../transforms/weight-norm';
import { WEIGHT_NORM_OPS } from '../wn/layers';
import { gShape } from '../wn/spec';
import { initialize, initOptions, printInitReport } from './init';
import { collect, jsonOption, loadForRewrite, log, number, outputOptions, printJson, regex, save } from './options';

function opList(value: string): string[] {
  const ops = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ops.filter((op) => !(WEIGHT_NORM_OPS as readonly string[]).includes(op));
  if (unknown.length) throw new InvalidArgumentError(`unsupported op ${unknown.join(', ')}; choose from ${WEIGHT_NORM_OPS.join(',')}`);
  return ops;
}

export function convertCommand(program: Command): void {
  const command = outputOptions(program.command('convert')
    .description('rewrite layer weights W into weight-normalized g and v (W = g·v/‖v‖)')
    .argument('<model>', 'input model ("-" for standard input)'))
    .option('--ops <list>', `op types to convert (default: ${WEIGHT_NORM_OPS.join(',')})`, opList)
    .option('--include <regex>', 'convert only layers whose node or weight name matches', regex)
    .option('--exclude <regex>', 'leave layers whose node or weight name matches', regex)
    .option('--eps <value>', 'floor under ‖v‖ so zero weight vectors stay finite', number('--eps'), 1e-12)
    .option('--mean-only-bn', 'also mean-only batch normalization after each converted Conv/ConvTranspose/Gemm/MatMul (paper section 4)')
    .addOption(jsonOption())
    .option('--init <[input=]file>', 'then run data-dependent init on this data (see `wn-onnx init --help`); repeat as input=file for several inputs', collect);
  initOptions(command).action(async (input: string, flags) => {
    const loaded = loadForRewrite(input, flags, flags.init ?? []);
    const { report } = convert(loaded.model, flags);
    const init = flags.init ? await initialize(loaded.model, flags.init, flags) : undefined;
    save(loaded, input, flags);
    if (flags.json) {
      printJson(init ? { convert: report, init } : report);
      return;
    }
    for (const c of report.converted) {
      const adopted = c.form ? ` (adopted: weight norm as ${c.form} wrote it)` : '';
      log(`converted ${c.plain ?? c.weight} (${c.layers.map((l) => `${l.op} "${l.node}"`).join(', ')}): g ${c.g} [${gShape(c.view, c.keep)}], v ${c.v}${adopted}`);
    }
    for (const s of report.skipped) log(`skipped   ${s.op} "${s.node}" input ${s.input}: ${s.reason}`);
    log(`${report.converted.length} weights converted, ${report.skipped.length} layer inputs skipped`);
    const meanOnly = report.meanOnlyBn;
    if (meanOnly) {
      for (const m of meanOnly.added) log(`mean-only BN after ${m.op} "${m.layer}": bias ${m.bias}, running mean ${m.runningMean} [${m.features}]`);
      for (const s of meanOnly.skipped) log(`no mean-only BN for ${s.op} "${s.node}": ${s.reason}`);
    }
    if (init) printInitReport(init);
  });
}
