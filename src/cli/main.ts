/** The `wn-onnx` command line (the edge: arguments, files, printing, exit codes); one file per command. */
import { Command } from 'commander';
import { WnError } from '../errors';
import { convertCommand } from './convert';
import { foldCommand } from './fold';
import { initCommand } from './init';
import { inspectCommand } from './inspect';
import { log } from './options';
import { trainCommand } from './train';
import { verifyCommand } from './verify';

export function buildProgram(): Command {
  const program = new Command('wn-onnx')
    .description('Weight normalization (Salimans & Kingma, 2016) for ONNX models')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  convertCommand(program);
  initCommand(program);
  foldCommand(program);
  trainCommand(program);
  inspectCommand(program);
  verifyCommand(program);
  return program;
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
