/**
 * `npm run fuzz -- [--cases N] [--seed S] [--jobs J] [--timeout-ms MS] [--repro N]`: hostile
 * input to the wn-onnx command line (see harness.ts). Exit status 1 when a case failed.
 */
import { Command, InvalidArgumentError } from 'commander';
import { commandLine, describePlan } from './cases';
import { formatFailures, formatSummary, runFuzz, type FuzzReport } from './harness';
import { BIN } from './seeds';

function count(name: string, min: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${value}"`);
    return n;
  };
}

/** An argument as bash reads it back: bare, in single quotes, or as $'…' when it holds control characters. */
function shellWord(arg: string): string {
  if (/^[\w./=-]+$/.test(arg)) return arg;
  if (!/[\u0000-\u001f\u007f]/.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  const escaped = arg.replace(/[\\']/g, (c) => `\\${c}`)
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `$'${escaped}'`;
}

interface Flags {
  cases: number; seed: number; first: number; jobs: number; timeoutMs: number; trainTimeoutMs: number;
  repro?: number; dir?: string; all?: boolean; report?: string;
}

/** One case in full, its folder kept. */
function printRepro(report: FuzzReport): void {
  const [result] = report.results;
  const folder = `${report.casesDir}/${result.index}`;
  console.log([
    `case ${result.index} of seed ${report.seed}: ${describePlan(result.plan)}`,
    `mutations: ${result.detail}`,
    `folder: ${folder} (the command ran in ${folder}/m)`,
    `command: ${commandLine(result.args)}`,
    `again (the folder now holds what the run left): cd ${folder}/m && node ${BIN} ${result.args.map(shellWord).join(' ')}`,
    `exit code: ${result.exitCode}, ${result.ms} ms`,
    `stdout (start): ${JSON.stringify(result.stdout.slice(0, 2000))}`,
    `stderr:\n${result.stderr}`,
    result.failures.length ? formatFailures(report, true).join('\n') : 'no failures',
  ].join('\n'));
}

async function run(flags: Flags): Promise<number> {
  const repro = flags.repro !== undefined;
  const report = await runFuzz({
    cases: repro ? 1 : flags.cases,
    seed: flags.seed,
    first: repro ? flags.repro : flags.first,
    jobs: repro ? 1 : flags.jobs,
    timeoutMs: flags.timeoutMs,
    trainTimeoutMs: flags.trainTimeoutMs,
    dir: flags.dir,
    keep: repro,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  if (repro) printRepro(report);
  else console.log(formatSummary(report, flags.all));
  if (flags.report) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(flags.report, JSON.stringify(report, null, 1));
  }
  return report.results.some((r) => r.failures.length) ? 1 : 0;
}

const program = new Command('fuzz')
  .description('hostile input to the wn-onnx CLI: mutated models, external data and output paths; deterministic from --seed')
  .option('--cases <n>', 'number of cases', count('--cases', 1), 1000)
  .option('--seed <s>', 'run seed: the same seed and case index make the same case', count('--seed', 0), 1)
  .option('--first <n>', 'index of the first case', count('--first', 0), 0)
  .option('--jobs <n>', 'worker processes', count('--jobs', 1), 2)
  .option('--timeout-ms <ms>', 'time limit of a case (convert, fold, inspect)', count('--timeout-ms', 1), 10000)
  .option('--train-timeout-ms <ms>', 'time limit of an init or train case', count('--train-timeout-ms', 1), 20000)
  .option('--repro <n>', 're-run case N alone and keep its folder for inspection', count('--repro', 0))
  .option('--dir <folder>', 'run folder (default: a new temporary folder, removed at the end unless --repro)')
  .option('--all', 'list every failing case, not one per distinct failure')
  .option('--report <file>', 'also write every result as JSON')
  .action(async (flags: Flags) => {
    process.exitCode = await run(flags);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  process.stderr.write(`fuzz: ${e.stack ?? e.message}\n`);
  process.exitCode = 3;
});
