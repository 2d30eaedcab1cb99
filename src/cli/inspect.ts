/** `wn-onnx inspect`: every layer weight, whether it is weight-normalized, and its g / ‖v‖ statistics. */
import type { Command } from 'commander';
import { inspectModel, type LayerInfo } from '../wn/inspect';
import { loadModelFile } from '../node/model-file';
import { fmtStats, table } from './format';
import { jsonOption, print, printJson } from './options';

function printLayers(layers: LayerInfo[]): void {
  const rows = layers.map((l) => [
    l.node || '(unnamed)', l.op, l.input, l.source && l.source !== 'wn-onnx' ? `${l.form} (${l.source})` : l.form,
    l.shape ? `[${l.shape}]` : '', l.features?.toString() ?? '', fmtStats(l.g), fmtStats(l.vNorm ?? l.wNorm),
    [l.meanOnlyBn && `mean-only BN, running mean ${fmtStats(l.meanOnlyBn.values)}`, l.note].filter(Boolean).join('; '),
  ]);
  const header = ['node', 'op', 'weight', 'form', 'shape', 'features', 'g min/mean/max', '‖v‖ (plain: ‖W‖) min/mean/max', 'note'];
  print(table(header, rows).join('\n'));
  const wn = layers.filter((l) => l.form === 'weight-norm').length;
  const foreign = layers.filter((l) => l.form === 'foreign-weight-norm').length;
  const byExporters = foreign ? `, ${foreign} weight-normalized by the exporter (convert adopts them, fold folds them)` : '';
  const meanOnly = layers.filter((l) => l.meanOnlyBn).length;
  const centered = meanOnly ? `, ${meanOnly} with mean-only BN` : '';
  print(`\n${layers.length} layer weights, ${wn} weight-normalized${byExporters}${centered}`);
}

export function inspectCommand(program: Command): void {
  program.command('inspect')
    .description('list layer weights, which are weight-normalized, and g / ‖v‖ statistics')
    .argument('<model>', 'model ("-" for standard input)')
    .addOption(jsonOption())
    .action((input: string, flags) => {
      const layers = inspectModel(loadModelFile(input).model);
      if (flags.json) printJson(layers);
      else printLayers(layers);
    });
}
