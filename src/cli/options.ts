/** Command-line pieces shared by the commands: option parsers, output flags, logging. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { printable, WnError } from '../errors';
import { loadModelFile, saveModelFile, type LoadedModel } from '../node/model-file';
import { checkOutputFile } from '../node/outputs';
import { STDOUT, writeChunks } from '../node/atomic';
import { EXECUTION_PROVIDERS } from '../runtime/ort';
import { withFlags } from './flags';

/** A line on standard error, with the core's option names shown as flags. */
export const log = (line: string) => process.stderr.write(`${printable(withFlags(line))}\n`);

/** Text on standard output, written synchronously: a full or closed output fails here (see writeChunks). */
const writeOut = (text: string) => writeChunks(STDOUT, [Buffer.from(`${text}\n`)]);

/** Human lines on standard output, each made printable (names can hold control characters). */
export const print = (text: string) => writeOut(text.split('\n').map(printable).join('\n'));

/** `--json`: the command's one JSON document goes to standard output, every other line to standard error. */
export const jsonOption = () => new Option('--json', 'print the result as one JSON document on standard output (the rest: standard error)');

/** JSON.stringify escapes control characters itself, and a long name must stay whole in JSON. */
export const printJson = (value: unknown) => writeOut(JSON.stringify(value, null, 2));

export function number(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
    return n;
  };
}

/** A number from `min` to `max` (no upper bound when `max` is omitted). */
export function numberIn(name: string, min: number, max = Infinity) {
  return (value: string) => {
    const n = number(name)(value);
    const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
    if (n < min || n > max) throw new InvalidArgumentError(`${name} takes a number ${range}, got ${value}`);
    return n;
  };
}

export function positiveInteger(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

const BYTE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A size in bytes: a number with an optional unit K, M, G or T (powers of 1024; "GB" and "GiB" read as G). */
export function byteSize(name: string) {
  return (value: string) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
    const bytes = m ? Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()] : NaN;
    if (!(bytes >= 1)) throw new InvalidArgumentError(`${name} must be a size such as 4G or 512M, got "${value}"`);
    return Math.floor(bytes);
  };
}

export function regex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (e) {
    throw new InvalidArgumentError(`not a valid regular expression: ${(e as Error).message}`);
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const epOption = () => new Option('--ep <provider>', 'execution provider').choices(EXECUTION_PROVIDERS as string[]).default('cpu');

/** `-o/--output FILE`: where a command writes its model (the same spelling on every command). */
export const outputOption = (what = 'output model') => new Option('-o, --output <file>', `${what} ("-" for standard output)`);

export const fsyncOption = () => new Option('--fsync', 'flush the output to disk before renaming it into place (survives a power loss; slower)');

export interface WriteFlags { output?: string; inPlace?: boolean; externalThreshold?: number; fsync?: boolean }

/** The output flags of the commands that rewrite a model. */
export function outputOptions(cmd: Command): Command {
  return cmd
    .addOption(outputOption())
    .option('--in-place', 'write over the input model (and its external data)')
    .option('--external-threshold <bytes>', 'store tensors of at least this many bytes in external data (default: keep the input\'s layout)', number('--external-threshold'))
    .addOption(fsyncOption());
}

export function outputTarget(input: string, flags: WriteFlags): string {
  if (flags.inPlace) {
    if (input === '-') throw new WnError('--in-place needs a model file, not standard input');
    if (flags.output && flags.output !== input) throw new WnError('give either -o/--output or --in-place, not both');
    return input;
  }
  if (!flags.output) throw new WnError('no output: pass -o OUT (or "-o -" for standard output, or --in-place)');
  return flags.output;
}

/**
 * Loads the model a command rewrites and checks its output before any work: where it goes,
 * that it can be written, and that it is not the input (src/node/outputs.ts). `dataItems`: the
 * command's data files (`--data [input=]FILE`, `--labels` …), inputs too; they join
 * `loaded.files`, so no later output (plot, checkpoint, `OUT.data`) replaces them either.
 */
export function loadForRewrite(input: string, flags: WriteFlags, dataItems: readonly (string | undefined)[] = []): LoadedModel {
  const target = outputTarget(input, flags);
  const loaded = loadModelFile(input);
  for (const item of dataItems) {
    if (!item) continue;
    loaded.files.add(item);
    // `input=FILE`, or a path with "=" in it: both are kept out of reach
    if (item.includes('=')) loaded.files.add(item.slice(item.indexOf('=') + 1));
  }
  checkOutputFile(target, { inputFiles: loaded.files, inPlace: flags.inPlace });
  return loaded;
}

export function save(loaded: LoadedModel, input: string, flags: WriteFlags): void {
  saveModelFile(loaded.model, outputTarget(input, flags), {
    inPlace: flags.inPlace,
    inputFiles: loaded.files,
    externalThreshold: flags.externalThreshold,
    fsync: flags.fsync,
  });
}
