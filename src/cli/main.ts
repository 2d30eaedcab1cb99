/** The `wn-onnx` command line (the edge: arguments, files, printing, exit codes); one file per command. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { WnError } from '../errors';
import { writeError } from '../node/files';
import { rerunWithTunedMalloc, wantsTunedMalloc } from '../node/malloc';
import { convertCommand } from './convert';
import { foldCommand } from './fold';
import { initCommand } from './init';
import { inspectCommand } from './inspect';
import { log, print } from './options';
import { serveCommand } from './serve';
import { trainCommand } from './train';
import { exportStepCommand } from './export-step';
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
  exportStepCommand(program);
  inspectCommand(program);
  verifyCommand(program);
  serveCommand(program);
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

/**
 * Failures that are the machine's, not wn-onnx's: memory that cannot be had (a model or batch
 * too large for it) and a full or read-only disk where a write was not already named.
 */
function userError(e: unknown): WnError | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code && ['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'].includes(code)) return writeError((e as { path?: string }).path ?? 'a file', e);
  if (e instanceof RangeError && /allocation failed|Invalid (typed )?array length|Array buffer/i.test(e.message)) {
    return new WnError(`out of memory: ${e.message}; the model or the batch is too large for this machine (try a smaller --batch-size)`);
  }
  return undefined;
}

export async function main(argv: string[]): Promise<void> {
  if (wantsTunedMalloc(argv)) {
    process.exitCode = await rerunWithTunedMalloc(argv);
    return;
  }
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
    const error = e instanceof WnError ? e : userError(e);
    if (error) {
      log(`wn-onnx: error: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    log(`wn-onnx: internal error: ${(e as Error).message ?? e} (set WN_ONNX_DEBUG=1 for details)`);
    if (process.env.WN_ONNX_DEBUG) log((e as Error).stack ?? '');
    process.exitCode = 3;
  }
}
