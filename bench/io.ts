/**
 * The README's I/O benchmark: `wn-onnx convert` and `wn-onnx fold` of a ~400 MB model
 * (24 MatMul weights of 2048x2048 float32, bench/make_big_model.ts) against Python
 * `onnx.load` + `onnx.save` of the same file (bench/python_load_save.py, Debian python3-onnx),
 * then ONNX Runtime (onnxruntime-node, CPU) inference of the original, weight-normalized and
 * folded models (bench/infer.ts).
 *
 * Every measurement runs in its own process under GNU time (`/usr/bin/time`, Debian package
 * `time`), which gives its peak RSS. Wall times are end to end (process start to exit, as a
 * user runs the command): one untimed warm-up round, then --repeat interleaved rounds, `sync`
 * before each run; the table shows the best time and the largest peak RSS of those rounds.
 * bench/profile.ts splits convert/fold into their steps when a number needs explaining.
 *
 *   npm run bench                      (builds, then runs with the defaults below)
 *   node dist/bench/io.js [--dir /tmp/wn-bench] [--layers 24] [--size 2048] [--batch 8]
 *                         [--repeat 3] [--runs 50] [--warmup 5] [--python /usr/bin/python3] [--keep]
 *
 * Prints a Markdown section for the README on standard output; progress goes to standard error.
 */
import { Command } from 'commander';
import { positiveInteger } from '../src/cli/options';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeBigModel } from './make_big_model';
import { measured, requireGnuTime, type Measured } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');
const INFER = path.join(__dirname, 'infer.js');
const PY_SCRIPT = path.join(ROOT, 'bench', 'python_load_save.py');

interface Options {
  dir: string; layers: number; size: number; batch: number; repeat: number; runs: number; warmup: number;
  python: string; keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const count = (name: string, fallback: number): [string, string, (v: string) => number, number] => [`--${name} <n>`, name, positiveInteger(`--${name}`), fallback];
  return new Command('bench/io.js')
    .option('--dir <dir>', 'working folder', (d: string) => path.resolve(d), path.join(os.tmpdir(), 'wn-bench'))
    .option(...count('layers', 24)).option(...count('size', 2048)).option(...count('batch', 8))
    .option(...count('repeat', 3)).option(...count('runs', 50)).option(...count('warmup', 5))
    .option('--python <exe>', 'python with onnx', '/usr/bin/python3')
    .option('--keep', 'keep the generated files', false)
    .parse(argv, { from: 'user' })
    .opts<Options>();
}

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Best { wallS: number; rssBytes: number; walls: number[]; last: Measured }

/** Flushes dirty pages (untimed), so one measurement's writes are not written back during the next. */
function settle(): void {
  spawnSync('sync');
}

interface Job { label: string; command: string; args: string[]; runs: Measured[] }

/**
 * Runs the jobs in interleaved rounds (a, b, c, a, b, c, ...) after one untimed warm-up round,
 * so a slow spell of a shared machine or a cold page cache hits every job alike.
 */
function rounds(n: number, jobs: Job[]): void {
  for (let round = 0; round <= n; round++) {
    for (const job of jobs) {
      settle();
      const m = measured(job.command, job.args);
      log(`  ${job.label} ${round === 0 ? 'warm-up' : `#${round}`}: ${m.wallS.toFixed(3)} s, peak RSS ${mb(m.rssBytes)} MB`);
      if (round > 0) job.runs.push(m);
    }
  }
}

function best(job: Job): Best {
  return {
    wallS: Math.min(...job.runs.map((r) => r.wallS)),
    rssBytes: Math.max(...job.runs.map((r) => r.rssBytes)),
    walls: job.runs.map((r) => r.wallS),
    last: job.runs[job.runs.length - 1],
  };
}

interface Inference { createMs: number; medianMs: number; p10Ms: number; p90Ms: number; rssBytes: number; output: Float32Array }

function inference(model: string, o: Options, opt: 'all' | 'disabled', runs: number): Inference {
  const outFile = `${model}.${opt}.out.bin`;
  settle();
  const m = measured(process.execPath, [INFER, model, '--runs', String(runs), '--warmup', String(o.warmup), '--opt', opt, '--out', outFile]);
  const r = JSON.parse(m.stdout.trim().split('\n').pop()!);
  const bytes = fs.readFileSync(outFile);
  fs.rmSync(outFile);
  const output = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  log(`  ${path.basename(model)} (optimizations ${opt}): session ${r.createMs.toFixed(0)} ms, median ${r.medianMs.toFixed(2)} ms, peak RSS ${mb(m.rssBytes)} MB`);
  return { ...r, rssBytes: m.rssBytes, output };
}

/** Best (lowest median) of `n` processes per model, interleaved; session creation: the lowest seen. */
function inferenceRounds(n: number, models: { file: string; opt: 'all' | 'disabled'; runs: number }[], o: Options): Inference[] {
  const results: Inference[][] = models.map(() => []);
  for (let round = 0; round < n; round++) models.forEach((x, i) => results[i].push(inference(x.file, o, x.opt, x.runs)));
  return results.map((rs) => {
    const fastest = rs.reduce((a, b) => (b.medianMs < a.medianMs ? b : a));
    return { ...fastest, createMs: Math.min(...rs.map((r) => r.createMs)), rssBytes: Math.max(...rs.map((r) => r.rssBytes)) };
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
const sec = (s: number) => `${s.toFixed(2)} s`;
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

function machine(python: { onnx: string; protobuf: string; version: string }): string[] {
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src', 'transforms', 'bin']) ? ' + uncommitted changes in src/transforms' : '';
  const ort = JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')).version;
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return [
    `- Machine: ${cpu}, nproc ${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()} ${os.arch()}`,
    `- Node ${process.version}, onnxruntime-node ${ort} (CPU execution provider, default threads); ${python.version}, onnx ${python.onnx} (protobuf ${python.protobuf} implementation)`,
    `- wn-onnx ${commit || 'unknown commit'}${dirty}`,
  ];
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  requireGnuTime();
  if (!fs.existsSync(o.python)) throw new Error(`${o.python} not found (the baseline needs Debian's python3 with python3-onnx, or pass --python)`);
  fs.mkdirSync(o.dir, { recursive: true });
  const original = path.join(o.dir, 'original.onnx');
  const wn = path.join(o.dir, 'wn.onnx');
  const folded = path.join(o.dir, 'folded.onnx');
  const pyOut = path.join(o.dir, 'python-saved.onnx');
  const durable = path.join(o.dir, 'fsync-out.onnx');

  log(`building ${o.layers} x MatMul(${o.size}x${o.size}) float32, input [${o.batch}, ${o.size}] -> ${original}`);
  writeBigModel(original, { layers: o.layers, size: o.size, batch: o.batch });
  const size = fs.statSync(original).size;
  log(`  ${mb(size)} MB`);

  const jobs: Job[] = [
    { label: 'python load+save', command: o.python, args: [PY_SCRIPT, original, pyOut], runs: [] },
    { label: 'wn-onnx convert', command: process.execPath, args: [CLI, 'convert', original, '-o', wn], runs: [] },
    { label: 'wn-onnx fold', command: process.execPath, args: [CLI, 'fold', wn, '-o', folded], runs: [] },
    { label: 'wn-onnx convert --fsync', command: process.execPath, args: [CLI, 'convert', original, '-o', durable, '--fsync'], runs: [] },
    { label: 'wn-onnx fold --fsync', command: process.execPath, args: [CLI, 'fold', wn, '-o', durable, '--fsync'], runs: [] },
  ];
  log(`python onnx.load + onnx.save, wn-onnx convert, wn-onnx fold: 1 warm-up round, then best of ${o.repeat} interleaved rounds`);
  rounds(o.repeat, jobs);
  const [py, conv, fld, convSync, fldSync] = jobs.map(best);
  const pyInfo = JSON.parse(py.last.stdout.trim().split('\n').pop()!);
  const pyVersion = spawnSync(o.python, ['--version'], { encoding: 'utf8' }).stdout.trim();

  const slowRuns = Math.min(o.runs, 10);
  log(`inference: ${o.warmup} warm-up runs, median of ${o.runs} (${slowRuns} without optimizations), best of ${o.repeat} processes`);
  const [iOriginal, iWn, iFolded] = inferenceRounds(o.repeat, [
    { file: original, opt: 'all', runs: o.runs },
    { file: wn, opt: 'all', runs: o.runs },
    { file: folded, opt: 'all', runs: o.runs },
  ], o);
  const [iWnNoOpt] = inferenceRounds(1, [{ file: wn, opt: 'disabled', runs: slowRuns }], o);
  const inf = { original: iOriginal, wn: iWn, folded: iFolded, wnNoOpt: iWnNoOpt };
  const scale = inf.original.output.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const diff = (x: Inference) => {
    const d = maxAbsDiff(inf.original.output, x.output);
    return `${d.toExponential(1)} (${(d / scale).toExponential(1)} relative)`;
  };

  const pyWall = py.wallS;
  const ok = (b: Best) => (b.wallS < pyWall && b.rssBytes < 1.5 * size ? 'yes' : `**no** (${[b.wallS >= pyWall ? 'slower than Python' : '', b.rssBytes >= 1.5 * size ? 'memory ≥ 1.5x' : ''].filter(Boolean).join(', ')})`);
  const walls = (b: Best) => b.walls.map((w) => w.toFixed(2)).join(', ');
  const opRow = (name: string, b: Best) =>
    `| ${name} | ${sec(b.wallS)} | ${walls(b)} | ${(b.wallS / pyWall).toFixed(2)}x | ${mb(b.rssBytes)} MB | ${(b.rssBytes / size).toFixed(2)}x | ${ok(b)} |`;
  const date = new Date().toISOString().slice(0, 10);
  const lines = [
    `### Large-model benchmark (${date})`,
    '',
    `Model: ${o.layers} MatMul nodes with ${o.size}x${o.size} float32 weights, input [${o.batch}, ${o.size}]; file ${mb(size)} MB (${(size / 2 ** 20).toFixed(0)} MiB), weights inline. Built by \`bench/make_big_model.ts\`; run with \`npm run bench\`.`,
    '',
    ...machine({ onnx: pyInfo.onnx, protobuf: pyInfo.protobuf, version: pyVersion }),
    '',
    `| Operation | Wall time (best of ${o.repeat}) | All runs | vs Python | Peak RSS (max of ${o.repeat}) | Peak RSS / model size | Target met |`,
    '|---|---|---|---|---|---|---|',
    `| Python \`onnx.load\` + \`onnx.save\` | ${sec(py.wallS)} | ${walls(py)} | 1.00x | ${mb(py.rssBytes)} MB | ${(py.rssBytes / size).toFixed(2)}x | baseline |`,
    opRow('`wn-onnx convert`', conv),
    opRow('`wn-onnx fold`', fld),
    opRow('`wn-onnx convert --fsync`', convSync),
    opRow('`wn-onnx fold --fsync`', fldSync),
    '',
    `Each command in its own process under GNU time; wall time end to end (process start to exit), page cache warm, \`sync\` before each run; one untimed warm-up round, then ${o.repeat} interleaved rounds. Python's last run: import ${sec(pyInfo.import_s)}, load ${sec(pyInfo.load_s)}, save ${sec(pyInfo.save_s)}. \`wn-onnx\` writes a temporary file and renames it into place (atomic); with \`--fsync\` it also flushes it to disk first. Python's \`onnx.save\` does neither. Targets: faster than Python, peak RSS under 1.5x the model size.`,
    '',
    `| Model | File size | Session creation | Inference median (p10-p90), batch ${o.batch} | vs original | Peak RSS (max) | Max abs diff vs original |`,
    '|---|---|---|---|---|---|---|',
  ];
  const row = (name: string, file: string, x: Inference, compare = true) =>
    `| ${name} | ${mb(fs.statSync(file).size)} MB | ${ms(x.createMs)} ms | ${ms(x.medianMs)} ms (${ms(x.p10Ms)}-${ms(x.p90Ms)}) | ${(x.medianMs / inf.original.medianMs).toFixed(2)}x | ${mb(x.rssBytes)} MB | ${compare ? diff(x) : '-'} |`;
  lines.push(
    row('original', original, inf.original, false),
    row('weight-normalized (`convert`)', wn, inf.wn),
    row('folded (`convert` then `fold`)', folded, inf.folded),
    row('weight-normalized, ORT graph optimizations disabled', wn, inf.wnNoOpt),
    '',
    `onnxruntime-node on the CPU, each model in its own process: the file read and its session created (wn-onnx's Session.open), ${o.warmup} warm-up runs, then the median of ${o.runs} timed runs (${slowRuns} for the last row); best of ${o.repeat} interleaved processes per model (last row: 1). Target for the folded model: 1.00x. With optimizations on (the default), ONNX Runtime constant-folds the g·v/‖v‖ nodes of the WN model at session creation, since g and v are initializers; the last row computes W on every run, as training does.`,
  );
  console.log(lines.join('\n'));

  if (!o.keep) for (const f of [original, wn, folded, pyOut, durable]) fs.rmSync(f, { force: true });
}

try {
  main();
} catch (e) {
  log(`bench: ${(e as Error).message}`);
  process.exitCode = 1;
}
