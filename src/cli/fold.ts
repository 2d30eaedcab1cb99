/** `wn-onnx fold`: g and v back into plain weights, the original operators restored. */
import type { Command } from 'commander';
import { fold } from '../../transforms/fold';
import { loadModelFile } from '../node/model-file';
import { log, outputOptions, save } from './options';

export function foldCommand(program: Command): void {
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
}
