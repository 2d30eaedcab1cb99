/**
 * A model past protobuf's 2 GB limit through every command (npm run bench:big): a chain of
 * MatMul layers whose weights are all external data (`--layers 9 --size 8192`: 2.42 GB, as a
 * large export stores them), then convert, inspect, verify, init, train (one SGD step), fold
 * and verify again, each in its own process under GNU time. Prints a Markdown table of wall
 * time and peak memory against the model's size (the target: init at most 2x). The input is
 * [64, size] of seeded uniform values, the targets likewise, smaller.
 *
 *   node dist/bench/big.js [--dir DIR] [--layers 9] [--size 8192] [--keep]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { dump } from 'npyjs';
import { positiveInteger } from '../src/cli/options';
import { seededRandom } from '../src/tensor/random';
import { writeBigModel } from './make_big_model';
import { measured, requireGnuTime } from './process';

const CLI = path.join(__dirname, '..', '..', 'bin', 'wn-onnx.js');
/** Rows of the input: the init batch and the training batch. */
const BATCH = 64;

interface Options { dir: string; layers: number; size: number; keep: boolean }

function parseArgs(argv: string[]): Options {
  return new Command('bench/big.js')
    .option('--dir <dir>', 'working folder (needs about 8 times the model size on disk)',
      (d: string) => path.resolve(d), path.join(os.tmpdir(), 'wn-bench-big'))
    .option('--layers <n>', 'MatMul layers', positiveInteger('--layers'), 9)
    .option('--size <n>', 'each weight is [size, size] float32', positiveInteger('--size'), 8192)
    .option('--keep', 'keep the generated files', false)
    .parse(argv, { from: 'user' })
    .opts<Options>();
}

/** Bytes of a model file and its external data files. */
function modelBytes(file: string): number {
  const folder = path.dirname(file);
  const base = path.basename(file);
  const files = fs.readdirSync(folder).filter((f) => f === base || f.startsWith(`${base}.data`));
  return files.reduce((n, f) => n + fs.statSync(path.join(folder, f)).size, 0);
}

/** A [rows, size] .npy of seeded values uniform in [-scale, scale). */
function writeArray(file: string, rows: number, size: number, seed: number, scale: number): void {
  const random = seededRandom(seed);
  fs.writeFileSync(file, Buffer.from(dump(Float32Array.from({ length: rows * size }, () => scale * (2 * random() - 1)), [rows, size])));
}

const gb = (bytes: number) => (bytes / 1e9).toFixed(2);

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  requireGnuTime();
  fs.rmSync(o.dir, { recursive: true, force: true });
  fs.mkdirSync(o.dir, { recursive: true });
  const at = (name: string) => path.join(o.dir, name);
  process.stderr.write(`writing ${o.layers} x [${o.size}, ${o.size}] float32 weights, all external, to ${at('big.onnx')}\n`);
  writeBigModel(at('big.onnx'), { layers: o.layers, size: o.size, batch: BATCH }, true);
  writeArray(at('x.npy'), BATCH, o.size, 1, 1);
  writeArray(at('t.npy'), BATCH, o.size, 2, 0.1);
  const size = modelBytes(at('big.onnx'));

  const steps: [string, string[]][] = [
    ['convert', ['convert', at('big.onnx'), '-o', at('wn.onnx')]],
    ['inspect', ['inspect', at('wn.onnx')]],
    ['verify (original vs converted)', ['verify', at('big.onnx'), at('wn.onnx')]],
    [`init (one pass, ${BATCH} rows)`, ['init', at('wn.onnx'), '--data', at('x.npy'), '-o', at('init.onnx')]],
    ['train (1 SGD step, mse)', ['train', at('init.onnx'), '--data', at('x.npy'), '--labels', at('t.npy'), '--loss', 'mse',
      '--optimizer', 'sgd', '--lr', '1e-6', '--epochs', '1', '--batch-size', String(BATCH), '-o', at('trained.onnx')]],
    ['fold', ['fold', at('trained.onnx'), '-o', at('folded.onnx')]],
    ['verify (trained vs folded)', ['verify', at('trained.onnx'), at('folded.onnx')]],
  ];
  const rows: string[] = [];
  for (const [label, args] of steps) {
    const m = measured(process.execPath, [CLI, ...args]);
    process.stderr.write(`${label}: ${m.wallS.toFixed(1)} s, peak RSS ${gb(m.rssBytes)} GB\n`);
    rows.push(`| ${label} | ${m.wallS.toFixed(1)} s | ${gb(m.rssBytes)} GB | ${(m.rssBytes / size).toFixed(2)}x |`);
  }
  const layers = `${o.layers} MatMul layers of [${o.size}, ${o.size}] float32`;
  console.log(`Model: ${layers}, ${gb(size)} GB, every weight in external data; input [${BATCH}, ${o.size}].\n`);
  console.log('| command | wall time | peak RSS | RSS / model size |');
  console.log('|---|---|---|---|');
  for (const row of rows) console.log(row);
  if (!o.keep) fs.rmSync(o.dir, { recursive: true, force: true });
}

main();
