/** `wn-onnx fold`: g and v back into plain weights, the original operators restored. */
import type { Command } from 'commander';
import { fold } from '../../transforms/fold';
import { jsonOption, loadForRewrite, log, outputOptions, printJson, save } from './options';

export function foldCommand(program: Command): void {
  outputOptions(program.command('fold')
    .description('fold g and v back into plain weights, restoring the original operators')
    .argument('<model>', 'weight-normalized model: by wn-onnx, or as an exporter wrote it ("-" for standard input)'))
    .addOption(jsonOption())
    .action((input: string, flags) => {
      const loaded = loadForRewrite(input, flags);
      const { report } = fold(loaded.model);
      save(loaded, input, flags);
      if (flags.json) {
        printJson(report);
        return;
      }
      for (const f of report.folded) log(`folded ${f.g}, ${f.v} -> ${f.weight} [${f.shape}] (${f.form})`);
      for (const s of report.skipped) log(`left alone ${s.node} input ${s.input}: ${s.reason}`);
      for (const m of report.meanOnlyBn) log(`folded the mean-only BN of "${m.layer}" into its bias ${m.bias} (b − running mean)`);
      log(`${report.folded.length} weights folded`);
    });
}
