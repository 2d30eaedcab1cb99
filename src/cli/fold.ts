/** `wn-onnx fold`: g and v back into plain weights, the original operators restored. */
import type { Command } from 'commander';
import { fold } from '../../transforms/fold';
import { loadModelFile } from '../node/model-file';
import { log, outputOptions, save } from './options';

export function foldCommand(program: Command): void {
  outputOptions(program.command('fold')
    .description('fold g and v back into plain weights, restoring the original operators')
    .argument('<model>', 'weight-normalized model: by wn-onnx, or as an exporter wrote it ("-" for standard input)'))
    .option('--json', 'print the report as JSON on standard error')
    .action((input: string, flags) => {
      const loaded = loadModelFile(input);
      const { report } = fold(loaded.model);
      save(loaded, input, flags);
      if (flags.json) {
        log(JSON.stringify(report, null, 2));
        return;
      }
      for (const f of report.folded) log(`folded ${f.g}, ${f.v} -> ${f.weight} [${f.shape}] (${f.form})`);
      for (const s of report.skipped) log(`left alone ${s.node} input ${s.input}: ${s.reason}`);
      log(`${report.folded.length} weights folded`);
    });
}
