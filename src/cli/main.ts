/** The `wn-onnx` command line (the edge: arguments, files, printing, exit codes); one file per command. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { WnError } from '../errors';
import { convertCommand } from './convert';
import { foldCommand } from './fold';
import { initCommand } from './init';
import { inspectCommand } from './inspect';
import { log, print } from './options';
import { trainCommand } from './train';
import { verifyCommand } from './verify';

/** The version in package.json (dist/src/cli/ is three folders below it). */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * Help and version through `print` (a reader gone from standard output ends the command quietly),
 * and usage errors on one line, with where to find the usage, as every other error.
 */
function configureOutput(command: Command, usage: string): void {
  command.configureOutput({
    writeOut: (text) => print(text.replace(/\n$/, '')),
    outputError: (text, write) => write(`wn-onnx: ${text.trim().replace(/\s*\n\s*/g, ' ')} (see ${usage} --help)\n`),
  });
}

export function buildProgram(): Command {
  const program = new Command('wn-onnx')
    .description('Weight normalization (Salimans & Kingma, 2016) for ONNX models')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride();
  convertCommand(program);
  initCommand(program);
  foldCommand(program);
  trainCommand(program);
  inspectCommand(program);
  verifyCommand(program);
  configureOutput(program, 'wn-onnx');
  for (const command of program.commands) configureOutput(command, `wn-onnx ${command.name()}`);
  program.hook('preAction', (_, command) => {
    const { json, output } = command.opts();
    if (json && output === '-') {
      command.error('error: --json and "-o -" both need standard output; write the model to a file (-o FILE) or drop --json');
    }
  });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help asked for (or the version) is a success; help shown because no command was given is a usage error
      const asked = ['commander.helpDisplayed', 'commander.version'].includes(e.code) || (e.code === 'commander.help' && e.exitCode === 0);
      process.exitCode = asked ? 0 : 2;
      return;
    }
    // the reader of standard output is gone (`| head`): what it wanted it has; end quietly
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
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
