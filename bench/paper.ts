/**
 * The paper's CIFAR-10 comparison (Salimans & Kingma 2016, Figure 1 and Table 1) redone on
 * Fashion-MNIST with wn-onnx's own trainer, sized for a 2-core machine (~13 min by default).
 *
 * Five parameterizations of one CNN, the same optimizer and schedule (Adam, batch 100,
 * `--schedule paper`, `--input-noise 0.15`; lr 0.003, 0.0003 for plain, as the paper), 3 seeds:
 *   plain, wn (`convert`), wn-init (`convert` + `init`), wn-mean-bn (`convert --mean-only-bn` +
 *   `init`), bn (BatchNormalization after each Conv, before its activation).
 * Model weights, init batch, shuffling, dropout and noise are drawn per seed; every run is a
 * `wn-onnx train --json` process whose result is saved in --out, so a re-run skips finished runs.
 *
 * Scaled from the paper's ConvPool-CNN-C variant (3×conv96, pool, 3×conv192, pool, conv192,
 * 2× 1×1 conv192, global average pool, dense 10) to 2×conv16 3×3, pool, 2×conv32 3×3, pool,
 * conv32 1×1, global average pool, dense 10: on 2 cores an epoch of 10,000 images then trains
 * in about 7.5 s (plain, WN; mean-only BN 8.3 s, BN 9.5 s; plus ~1 s of test evaluation) against
 * 19 s at twice the width, so 5 configurations × 3 seeds × 5 epochs take ~13 min (2026-12-02).
 * Kept: leaky ReLU 0.1, max pooling, no dense hidden layer, Adam, the lr per parameterization
 * and the schedule. Dropout (the paper: 0.5 after each pool) is off unless --dropout: in this
 * small net over 500 steps it left every configuration at 22–46% test error.
 * Training set: the first 10,000 of the 60,000 images (the file is in random order, ~1,000 per
 * class): 100 steps an epoch, 500 in all, on more distinct images than more epochs of fewer.
 *
 *   npm run paper                   (builds first)
 *   node dist/bench/paper.js [--epochs 5] [--train-size 10000] [--seeds 3] [--dropout 0]
 *                            [--out bench-results/paper] [--report docs/paper] [--configs plain,wn,wn-init,wn-mean-bn,bn]
 *
 * Writes data/ (.npy), models/ and runs/*.json into --out; paper-curves, paper-test-error and
 * paper-step-time (.svg and .png) and paper.md into --report; prints paper.md on standard output.
 */
import { Command, InvalidArgumentError } from 'commander';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { numberIn, positiveInteger } from '../src/cli/options';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { elementCount, floatTensor } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { saveModelFile } from '../src/node/model-file';
import { readSampleData } from '../src/data/sample-data';
import { parseNpy } from '../src/data/npy';
import { npy, writeFile } from './files';
import type { EpochSummary } from '../src/train/fit';
import { median, runProcess } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');
const FASHION = '/usr/share/datasets/fashion-mnist';
const BATCH = 100;
const INPUT_NOISE = 0.15;
/** The paper's dropout after each pool; off by default here (see the top). */
const PAPER_DROPOUT = 0.5;
const LEAKY_ALPHA = 0.1;
/** Channels of the 3×3 convolutions of each stage (the paper: 96 and 192) and of the 1×1 one (192). */
const WIDTHS = { stage1: 16, stage2: 32, head: 32 };
/** Part of every saved run's settings: change it when the model or the data changes, so old runs are not reused. */
const modelTag = (dropout: number) => `cnn-${WIDTHS.stage1}-${WIDTHS.stage2}-${WIDTHS.head}-dropout${dropout}-v1`;

const CONFIG_NAMES = ['plain', 'wn', 'wn-init', 'wn-mean-bn', 'bn'] as const;
type ConfigName = (typeof CONFIG_NAMES)[number];

interface Config { name: ConfigName; label: string; lr: number }

const CONFIGS: Config[] = [
  { name: 'plain', label: 'plain', lr: 0.0003 },
  { name: 'wn', label: 'WN', lr: 0.003 },
  { name: 'wn-init', label: 'WN + init', lr: 0.003 },
  { name: 'wn-mean-bn', label: 'WN + mean-only BN', lr: 0.003 },
  { name: 'bn', label: 'batch norm', lr: 0.003 },
];

interface Options { epochs: number; trainSize: number; seeds: number; out: string; report: string; configs: ConfigName[]; dropout: number }

function configList(value: string): ConfigName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(CONFIG_NAMES as readonly string[]).includes(n));
  if (unknown.length || !names.length) throw new InvalidArgumentError(`choose from ${CONFIG_NAMES.join(',')}; got "${value}"`);
  return CONFIG_NAMES.filter((n) => names.includes(n));
}

function trainSize(value: string): number {
  const n = positiveInteger('--train-size')(value);
  if (n > 60000) throw new InvalidArgumentError(`--train-size is at most 60000, got ${n}`);
  return n;
}

function parseArgs(argv: string[]): Options {
  const o = new Command('bench/paper.js')
    .option('--epochs <n>', 'epochs per run (the paper: 200)', positiveInteger('--epochs'), 5)
    .option('--train-size <n>', 'training images: the first N of the 60,000', trainSize, 10000)
    .option('--seeds <n>', 'seeds per configuration (1..n)', positiveInteger('--seeds'), 3)
    .option('--out <dir>', 'working folder: data, models, runs', 'bench-results/paper')
    .option('--report <dir>', 'folder for paper.md and the figures', 'docs/paper')
    .option('--dropout <p>', `dropout after each pool (the paper: ${PAPER_DROPOUT})`, numberIn('--dropout', 0, 0.9), 0)
    .option('--configs <list>', 'configurations to run', configList, [...CONFIG_NAMES])
    .parse(argv, { from: 'user' })
    .opts<Options>();
  return { ...o, out: path.resolve(o.out), report: path.resolve(o.report) };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const cli = (args: string[]) => runProcess(process.execPath, [CLI, ...args]);

const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();

/** HEAD's short hash, marked when tracked files differ from it. */
function commitLabel(): string {
  return git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--untracked-files=no']) ? '+changes' : '');
}

// ---- data -----------------------------------------------------------------------------------

/** A gzipped IDX file (MNIST's format) of unsigned bytes, read as wn-onnx reads sample data. */
function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const [array] = readSampleData(fs.readFileSync(file), file).values();
  return { dims: array.shape, data: array.data as Uint8Array };
}

interface DataFiles { dir: string; trainImages: string; trainLabels: string; testImages: string; testLabels: string }

/**
 * Images as [N, 1, 28, 28] float32, pixels / 255 standardized with the mean and std of all
 * 60,000 training images (so they do not depend on --train-size); labels as int64.
 */
function prepareData(o: Options): DataFiles {
  const dir = path.join(o.out, 'data');
  fs.mkdirSync(dir, { recursive: true });
  const files: DataFiles = {
    dir,
    trainImages: path.join(dir, `train-images-${o.trainSize}.npy`),
    trainLabels: path.join(dir, `train-labels-${o.trainSize}.npy`),
    testImages: path.join(dir, 'test-images.npy'),
    testLabels: path.join(dir, 'test-labels.npy'),
  };
  if ([files.trainImages, files.trainLabels, files.testImages, files.testLabels].every((f) => fs.existsSync(f))) return files;
  const train = readIdx(path.join(FASHION, 'train-images-idx3-ubyte.gz'));
  let sum = 0;
  let squares = 0;
  for (const p of train.data) {
    sum += p / 255;
    squares += (p / 255) ** 2;
  }
  const mean = sum / train.data.length;
  const std = Math.sqrt(squares / train.data.length - mean ** 2);
  const images = (idx: { data: Uint8Array }, rows: number, file: string) => {
    const values = Float32Array.from(idx.data.subarray(0, rows * 784), (p) => (p / 255 - mean) / std);
    writeFile(file, npy(values, [rows, 1, 28, 28]));
  };
  const labels = (name: string, rows: number, file: string) => {
    const { data } = readIdx(path.join(FASHION, name));
    writeFile(file, npy(BigInt64Array.from(data.subarray(0, rows), (l) => BigInt(l)), [rows]));
  };
  images(train, o.trainSize, files.trainImages);
  labels('train-labels-idx1-ubyte.gz', o.trainSize, files.trainLabels);
  const test = readIdx(path.join(FASHION, 't10k-images-idx3-ubyte.gz'));
  images(test, test.dims[0], files.testImages);
  labels('t10k-labels-idx1-ubyte.gz', test.dims[0], files.testLabels);
  log(`data: ${o.trainSize} training, ${test.dims[0]} test images in ${dir} (mean ${mean.toFixed(4)}, std ${std.toFixed(4)})`);
  return files;
}

/** The data-dependent init batch of one seed: BATCH training images drawn by the seed. */
function initBatch(files: DataFiles, o: Options, seed: number): string {
  const file = path.join(files.dir, `init-${o.trainSize}-seed${seed}.npy`);
  if (fs.existsSync(file)) return file;
  const images = parseNpy(fs.readFileSync(files.trainImages), files.trainImages).data as Float32Array;
  const random = seededRandom(9000 + seed);
  const order = Uint32Array.from({ length: o.trainSize }, (_, i) => i);
  const rows = Math.min(BATCH, o.trainSize);
  const batch = new Float32Array(rows * 784);
  for (let i = 0; i < rows; i++) { // the first `rows` steps of a Fisher–Yates shuffle
    const j = i + Math.floor(random() * (o.trainSize - i));
    [order[i], order[j]] = [order[j], order[i]];
    batch.set(images.subarray(order[i] * 784, (order[i] + 1) * 784), i * 784);
  }
  writeFile(file, npy(batch, [rows, 1, 28, 28]));
  return file;
}

// ---- models ---------------------------------------------------------------------------------

/**
 * The scaled ConvPool-CNN-C (see the top), weights drawn from the seed: uniform in
 * ±1/sqrt(fan-in), PyTorch's default for Conv and Linear. `batchNorm` puts BatchNormalization
 * (scale 1, bias 0, mean 0, var 1) between each Conv and its activation; the weights stay the same.
 */
function makeCnn(seed: number, batchNorm: boolean, dropout: number): Model {
  const random = seededRandom(2016 + seed);
  const F = DataType.FLOAT;
  const initializers: TensorProto[] = dropout ? [floatTensor('dropout.ratio', F, [], Float32Array.of(dropout))] : [];
  const nodes: NodeProto[] = [];
  let x = 'input';
  let channels = 1;
  const weight = (name: string, dims: number[], fanIn: number) => {
    const bound = 1 / Math.sqrt(fanIn);
    const values = Float32Array.from({ length: elementCount(dims) }, () => (random() * 2 - 1) * bound);
    initializers.push(floatTensor(name, F, dims, values));
    return name;
  };
  const filled = (name: string, value: number) => {
    initializers.push(floatTensor(name, F, [channels], new Float32Array(channels).fill(value)));
    return name;
  };
  const conv = (name: string, out: number, k: number) => {
    const fanIn = channels * k * k;
    const pad = (k - 1) / 2;
    const inputs = [x, weight(`${name}.weight`, [out, channels, k, k], fanIn), weight(`${name}.bias`, [out], fanIn)];
    nodes.push(makeNode('Conv', inputs, [name], { kernel_shape: [k, k], pads: [pad, pad, pad, pad] }));
    channels = out;
    let pre = name;
    if (batchNorm) {
      pre = `${name}.bn`;
      const params = [filled(`${pre}.scale`, 1), filled(`${pre}.bias`, 0), filled(`${pre}.mean`, 0), filled(`${pre}.var`, 1)];
      nodes.push(makeNode('BatchNormalization', [name, ...params], [pre]));
    }
    nodes.push(makeNode('LeakyRelu', [pre], [`${name}.act`], { alpha: { float: LEAKY_ALPHA } }));
    x = `${name}.act`;
  };
  const poolAndDrop = (name: string) => {
    nodes.push(makeNode('MaxPool', [x], [name], { kernel_shape: [2, 2], strides: [2, 2] }));
    x = name;
    if (!dropout) return;
    nodes.push(makeNode('Dropout', [name, 'dropout.ratio'], [`${name}.drop`]));
    x = `${name}.drop`;
  };
  conv('conv1', WIDTHS.stage1, 3);
  conv('conv2', WIDTHS.stage1, 3);
  poolAndDrop('pool1');
  conv('conv3', WIDTHS.stage2, 3);
  conv('conv4', WIDTHS.stage2, 3);
  poolAndDrop('pool2');
  conv('conv5', WIDTHS.head, 1);
  nodes.push(makeNode('GlobalAveragePool', [x], ['gap']), makeNode('Flatten', ['gap'], ['features'], { axis: 1 }));
  const fc = ['features', weight('fc.weight', [10, channels], channels), weight('fc.bias', [10], channels)];
  nodes.push(makeNode('Gemm', fc, ['logits'], { transB: 1 }, 'fc'));
  return makeModel({
    opset: 17,
    name: `paper-cnn-seed${seed}${batchNorm ? '-bn' : ''}`,
    inputs: [tensorInfo('input', F, ['batch', 1, 28, 28])],
    outputs: [tensorInfo('logits', F, ['batch', 10])],
    initializers,
    nodes,
  });
}

/** The model a run starts from, made with wn-onnx's own commands where the configuration needs them. */
function prepareModel(config: ConfigName, seed: number, files: DataFiles, o: Options): string {
  const dir = path.join(o.out, 'models');
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, `${name}-seed${seed}.onnx`);
  const base = file(config === 'bn' ? 'cnn-bn' : 'cnn');
  saveModelFile(makeCnn(seed, config === 'bn', o.dropout), base);
  if (config === 'plain' || config === 'bn') return base;
  const meanOnly = config === 'wn-mean-bn';
  const converted = file(meanOnly ? 'wn-mean-bn-converted' : 'wn');
  cli(['convert', base, '-o', converted, ...(meanOnly ? ['--mean-only-bn'] : [])]);
  if (config === 'wn') return converted;
  cli(['init', converted, '--data', initBatch(files, o, seed), '--batch-size', String(BATCH), '-o', file(config)]);
  return file(config);
}

// ---- runs -----------------------------------------------------------------------------------

/** What a saved run must match to be reused. */
interface RunSettings {
  model: string; epochs: number; trainSize: number; batch: number; lr: number; schedule: 'paper'; inputNoise: number;
}

interface RunResult {
  config: ConfigName; seed: number; settings: RunSettings; commit: string; wallSeconds: number; epochs: EpochSummary[];
}

function runSettings(config: Config, o: Options): RunSettings {
  return {
    model: modelTag(o.dropout), epochs: o.epochs, trainSize: o.trainSize, batch: BATCH, lr: config.lr, schedule: 'paper', inputNoise: INPUT_NOISE,
  };
}

function savedRun(file: string, settings: RunSettings): RunResult | undefined {
  if (!fs.existsSync(file)) return undefined;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult;
  return JSON.stringify(saved.settings) === JSON.stringify(settings) ? saved : undefined;
}

function train(config: Config, seed: number, files: DataFiles, o: Options, settings: RunSettings): RunResult {
  const model = prepareModel(config.name, seed, files, o);
  const trained = path.join(o.out, 'models', `${config.name}-seed${seed}.trained.onnx`);
  const { stdout, seconds } = cli([
    'train', model, '--data', files.trainImages, '--labels', files.trainLabels,
    '--val-data', files.testImages, '--val-labels', files.testLabels,
    '--optimizer', 'adam', '--lr', String(config.lr), '--schedule', 'paper', '--batch-size', String(BATCH),
    '--epochs', String(o.epochs), '--seed', String(seed), '--input-noise', String(settings.inputNoise),
    '-o', trained, '--json',
  ]);
  const { epochs } = JSON.parse(stdout) as { epochs: EpochSummary[] };
  return { config: config.name, seed, settings, commit: commitLabel(), wallSeconds: seconds, epochs };
}

// ---- statistics -----------------------------------------------------------------------------

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n − 1); 0 for one value. */
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}


const testError = (r: RunResult) => 1 - r.epochs.at(-1)!.valAccuracy!;

/** An epoch's training seconds (validation excluded) over its steps, in ms; median of epochs 2.. (epoch 1 warms up). */
function stepMs(r: RunResult): number {
  const steps = Math.ceil(r.settings.trainSize / r.settings.batch);
  const epochs = r.epochs.length > 1 ? r.epochs.slice(1) : r.epochs;
  return median(epochs.map((e) => (1000 * e.seconds) / steps));
}

const METRICS: [string, (e: EpochSummary) => number][] = [
  ['training loss', (e) => e.trainLoss],
  ['training error', (e) => 1 - e.trainAccuracy!],
  ['test error', (e) => 1 - e.valAccuracy!],
];

interface Point { epoch: number; metric: string; mean: number; min: number; max: number }

interface Summary { config: Config; testError: number[]; finalLoss: number[]; stepMs: number[]; curves: Point[] }

function summarize(config: Config, runs: RunResult[]): Summary {
  const curves: Point[] = [];
  for (let i = 0; i < runs[0].epochs.length; i++) {
    for (const [metric, value] of METRICS) {
      const xs = runs.map((r) => value(r.epochs[i]));
      curves.push({ epoch: i + 1, metric, mean: mean(xs), min: Math.min(...xs), max: Math.max(...xs) });
    }
  }
  const finalLoss = runs.map((r) => r.epochs.at(-1)!.trainLoss);
  return { config, testError: runs.map(testError), finalLoss, stepMs: runs.map(stepMs), curves };
}

/** ms/step of the fastest run: the one least slowed by other work on the machine (bench:train takes the best too). */
const fastest = (s: Summary) => Math.min(...s.stepMs);

const trainLoss = (s: Summary, epoch: number) => s.curves.find((c) => c.metric === 'training loss' && c.epoch === epoch)!.mean;

// ---- figures --------------------------------------------------------------------------------

/** Vega-Lite → SVG (vega, headless) → PNG (resvg), as src/node/plot.ts draws `train --plot`. */
async function writeFigure(base: string, spec: Record<string, unknown>): Promise<void> {
  const vegaLite = await import('vega-lite');
  const vega = await import('vega');
  const { Resvg } = await import('@resvg/resvg-js');
  const compiled = vegaLite.compile({ background: 'white', ...spec } as never).spec;
  const svg = await new vega.View(vega.parse(compiled), { renderer: 'none' }).toSVG();
  writeFile(`${base}.svg`, svg);
  writeFile(`${base}.png`, new Resvg(svg, { font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng());
}

async function writeFigures(out: string, summaries: Summary[], seeds: string): Promise<void> {
  const labels = summaries.map((s) => s.config.label);
  const color = { field: 'config', type: 'nominal', title: null, scale: { domain: labels }, sort: labels };
  const epoch = { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } };
  const curve = (metric: string) => ({
    title: metric,
    width: 300,
    height: 220,
    data: { values: summaries.flatMap((s) => s.curves.filter((c) => c.metric === metric).map((c) => ({ ...c, config: s.config.label }))) },
    layer: [
      {
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x: epoch, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' }, color },
      },
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: epoch,
          y: { field: 'mean', type: 'quantitative', title: metric, scale: { zero: false } },
          color,
        },
      },
    ],
  });
  await writeFigure(path.join(out, 'paper-curves'), {
    title: `Fashion-MNIST, scaled ConvPool-CNN-C: mean over ${seeds}, band min–max (cf. the paper's Figure 1)`,
    hconcat: METRICS.map(([metric]) => curve(metric)),
    config: { legend: { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 3 } },
  });
  const bars = (title: string, axis: string, value: (s: Summary) => number[]) => {
    const x = { field: 'config', type: 'nominal', sort: labels, title: null, axis: { labelAngle: 0, labelLimit: 200 } };
    const y = { field: 'value', type: 'quantitative', title: axis };
    return {
      title: `${title} (bar: mean, whisker: ±1 std, dots: ${seeds})`,
      width: 640,
      height: 220,
      data: { values: summaries.flatMap((s) => value(s).map((v) => ({ config: s.config.label, value: v }))) },
      layer: [
        { mark: 'bar', encoding: { x, y: { ...y, aggregate: 'mean' }, color: { ...color, legend: null } } },
        { mark: { type: 'errorbar', extent: 'stdev' }, encoding: { x, y } },
        { mark: { type: 'point', filled: true, color: 'black', size: 20 }, encoding: { x, y } },
      ],
    };
  };
  const percent = (xs: number[]) => xs.map((x) => 100 * x);
  const testErrors = (s: Summary) => percent(s.testError);
  await writeFigure(path.join(out, 'paper-test-error'), bars('Test error after the last epoch', 'test error (%)', testErrors));
  await writeFigure(path.join(out, 'paper-step-time'), bars(`Training step time, batch ${BATCH}`, 'ms per step', (s) => s.stepMs));
}

// ---- report ---------------------------------------------------------------------------------

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const pm = (xs: number[], f: (x: number) => string) => (xs.length > 1 ? `${f(mean(xs))} ± ${f(std(xs))}` : f(mean(xs)));
const verdict = (ok: boolean) => (ok ? '**holds**' : '**does not hold**');

/** The paper's claims against the numbers: each holds or does not, with the numbers that decide it. */
function claims(by: Map<ConfigName, Summary>, epochs: number): string[] {
  const plain = by.get('plain');
  const init = by.get('wn-init');
  const meanOnly = by.get('wn-mean-bn');
  const wn = by.get('wn');
  const bn = by.get('bn');
  const lines: string[] = [];
  if (plain && init) {
    const early = Array.from({ length: Math.max(1, Math.floor(epochs / 2)) }, (_, i) => i + 1);
    const faster = early.every((e) => trainLoss(init, e) < trainLoss(plain, e));
    const numbers = early.map((e) => `epoch ${e}: ${trainLoss(init, e).toFixed(4)} vs ${trainLoss(plain, e).toFixed(4)}`);
    const when = early.length > 1 ? `every epoch of the constant-lr half, 1–${early.length}` : 'epoch 1';
    lines.push(`- WN + data-dependent init converges faster than plain (its mean training loss lower at ${when}): `
      + `${verdict(faster)}; ${numbers.join(', ')}.`);
  } else {
    lines.push('- WN + init converges faster than plain: not tested (needs the plain and wn-init runs).');
  }
  if (meanOnly && by.size > 1) {
    const ranked = [...by.values()].sort((a, b) => mean(a.testError) - mean(b.testError));
    const best = ranked[0] === meanOnly;
    const other = best ? ranked[1] : ranked[0];
    lines.push(`- WN + mean-only BN gives the best test error (paper: 7.31% vs 8.05–8.52%): ${verdict(best)}; `
      + `${pct(mean(meanOnly.testError))} vs ${best ? 'next best' : 'best'}, ${other.config.label}, ${pct(mean(other.testError))}.`);
  } else {
    lines.push('- WN + mean-only BN gives the best test error: not tested (needs wn-mean-bn and another configuration).');
  }
  if (plain && wn && bn) {
    const ratio = (s: Summary) => fastest(s) / fastest(plain);
    lines.push(`- WN's step-time overhead is small (at most 5% over plain; paper: "not noticeably slower"): `
      + `${verdict(ratio(wn) <= 1.05)}; WN ${ratio(wn).toFixed(2)}× plain.`);
    lines.push(`- BN's overhead is larger than WN's (paper: BN about 16% slower than plain): ${verdict(ratio(bn) > ratio(wn))}; `
      + `BN ${ratio(bn).toFixed(2)}× plain, WN ${ratio(wn).toFixed(2)}×.`);
  } else {
    lines.push('- WN\'s overhead small, BN\'s large: not tested (needs the plain, wn and bn runs).');
  }
  return lines;
}

function report(summaries: Summary[], o: Options, runs: RunResult[]): string {
  const by = new Map(summaries.map((s) => [s.config.name, s]));
  const plainMs = by.has('plain') ? fastest(by.get('plain')!) : undefined;
  const commits = [...new Set(runs.map((r) => r.commit ?? 'unknown'))].join(', ');
  const runMinutes = runs.reduce((sum, r) => sum + r.wallSeconds, 0) / 60;
  const ort = (require('onnxruntime-node') as { env: { versions: { node: string } } }).env.versions.node;
  const rows = summaries.map((s) => {
    const relative = plainMs === undefined ? '—' : `${(fastest(s) / plainMs).toFixed(2)}×`;
    const loss = pm(s.finalLoss, (x) => x.toFixed(4));
    const cells = [s.config.label, s.config.lr, pm(s.testError, pct), loss, pm(s.stepMs, (x) => x.toFixed(1)), relative];
    return `| ${cells.join(' | ')} |`;
  });
  const size = (n: number) => n.toLocaleString('en-US');
  return [
    `## The paper's CIFAR-10 comparison on Fashion-MNIST (${new Date().toISOString().slice(0, 10)}, runs at commit ${commits})`, '',
    `Salimans & Kingma (2016), Table 1 and Figure 1, redone with \`wn-onnx train\`: ${size(o.trainSize)} training images, all 10,000 `
      + `test images; ${plural(o.epochs, 'epoch')}, ${plural(o.seeds, 'seed')} per configuration; Adam, batch ${BATCH}, `
      + `\`--schedule paper\` (lr constant for the first half of the epochs, then linearly toward 0 with β1 0.5), `
      + `\`--input-noise ${INPUT_NOISE}\`. onnxruntime-node ${ort} CPU, `
      + `Node ${process.version}, ${os.cpus()[0]?.model?.trim()}, nproc ${os.availableParallelism()}; `
      + `runs took ${runMinutes.toFixed(1)} min.`,
    '',
    '| Configuration | lr | Test error | Final train loss | ms/step | Step time vs plain |',
    '|---|---|---|---|---|---|',
    ...rows, '',
    `Mean ± sample std over seeds. Test error: 1 − accuracy on the 10,000 test images after the last epoch (inference: no dropout `
      + `or noise, running statistics). Final train loss: mean cross-entropy of the last epoch's batches as trained (dropout and noise `
      + `on). ms/step: an epoch's training time (validation excluded) over its ${Math.ceil(o.trainSize / BATCH)} steps, `
      + `${o.epochs > 1 ? `median of epochs 2–${o.epochs} (epoch 1 warms up)` : 'warm-up included'}; one run at a time, `
      + `each a process of its own, seeds outer and configurations inner; `
      + `step time vs plain: fastest run against plain's fastest. `
      + `The paper (CIFAR-10, 200 epochs): plain 8.43%, WN 8.46%, mean-only BN 8.52%, BN 8.05%, WN + mean-only BN 7.31%.`, '',
    '### Which claims hold here', '',
    ...claims(by, o.epochs), '',
    '### Notes', '',
    `- Model: the paper's ConvPool-CNN-C variant scaled down: 2×conv${WIDTHS.stage1} 3×3, max pool, 2×conv${WIDTHS.stage2} 3×3, `
      + `max pool, conv${WIDTHS.head} 1×1, global average pool, dense 10 (the paper: 3×conv96, pool, 3×conv192, pool, conv192, `
      + `2× 1×1 conv192, global average pool, dense 10, on 32×32 colour images). Kept: leaky ReLU ${LEAKY_ALPHA}, `
      + `Gaussian input noise σ ${INPUT_NOISE}, Adam, batch ${BATCH}, each parameterization's lr and the schedule; `
      + `${plural(o.epochs, 'epoch')} instead of 200. Why: 5 configurations × 3 seeds had to fit in about 15 minutes on `
      + `2 CPU cores; at twice these widths an epoch of 10,000 images took 19 s instead of 7 s (plain) here. `
      + (o.dropout ? `Dropout ${o.dropout} after each pool, as the paper.` : `No dropout (the paper: ${PAPER_DROPOUT} after each `
        + `pool; \`--dropout ${PAPER_DROPOUT}\` puts it back): in a net 6 times narrower trained for 500 steps it left every `
        + `configuration at 22–46% test error (measured 2026-12-02), and \`wn-onnx init\` standardizes the pre-activations `
        + `as inference sees them, without dropout's 1/keep scaling, so with dropout the initialized net starts far from unit `
        + `variance in training (loss 9–10 against 2.7).`),
    `- Training set: the first ${size(o.trainSize)} of the 60,000 images (the file is in random order, classes about balanced), `
      + `for the same time budget. Pixels / 255, standardized with the mean and std of all 60,000 training images.`,
    `- ${o.seeds > 1 ? `Seeds 1–${o.seeds} draw` : 'Seed 1 draws'} the weights (uniform in ±1/sqrt(fan-in), PyTorch's default; `
      + `every configuration starts from the same W for a seed, WN's convert keeps it: v = W, g = ‖W‖), the ${BATCH} training `
      + `images of \`wn-onnx init\`, the shuffling, the dropout masks and the input noise.`,
    `- WN + mean-only BN: \`convert --mean-only-bn\` (every converted layer, dense included) then \`init\`, as WN + init.`,
    `- BN: BatchNormalization after each Conv, before its activation (momentum 0.9; running statistics at test time).`,
    `- Differences from the paper's reference code (openai/weightnorm, lasagne/train.py): there the init pass runs with dropout and `
      + `input noise on, and the plain network is initialized from data too (a fixed per-feature scale and the bias); `
      + `\`wn-onnx init\` runs the model as for inference, and plain here starts from its drawn weights. The paper has no `
      + `WN-without-init configuration.`, '',
    `Figures: paper-curves (training loss, training error and test error per epoch; mean over seeds, band min–max), `
      + `paper-test-error, paper-step-time (.svg, .png). Command: \`node dist/bench/paper.js --epochs ${o.epochs} `
      + `--train-size ${o.trainSize} --seeds ${o.seeds}${o.dropout ? ` --dropout ${o.dropout}` : ''} --configs ${o.configs.join(',')}\`.`,
  ].join('\n');
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(path.join(o.out, 'runs'), { recursive: true });
  const configs = CONFIGS.filter((c) => o.configs.includes(c.name));
  const files = prepareData(o);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const results = new Map<ConfigName, RunResult[]>(configs.map((c) => [c.name, []]));
  let done = 0;
  // seeds outer, configurations inner: a busier stretch of the machine hits every configuration alike
  for (const seed of seeds) {
    for (const config of configs) {
      const settings = runSettings(config, o);
      const file = path.join(o.out, 'runs', `${config.name}-seed${seed}.json`);
      const saved = savedRun(file, settings);
      const result = saved ?? train(config, seed, files, o, settings);
      if (!saved) writeFile(file, JSON.stringify(result, null, 2));
      results.get(config.name)!.push(result);
      log(`[${++done}/${configs.length * seeds.length}] ${config.name} seed ${seed}: ${plural(result.epochs.length, 'epoch')}, `
        + `test error ${pct(testError(result))}, ${stepMs(result).toFixed(1)} ms/step, ${result.wallSeconds.toFixed(1)} s`
        + `${saved ? ' (saved run)' : ''}`);
    }
  }
  const summaries = configs.map((c) => summarize(c, results.get(c.name)!));
  fs.mkdirSync(o.report, { recursive: true });
  await writeFigures(o.report, summaries, plural(o.seeds, 'seed'));
  const markdown = report(summaries, o, [...results.values()].flat());
  writeFile(path.join(o.report, 'paper.md'), `${markdown}\n`);
  log(`wrote ${path.join(o.report, 'paper.md')} and paper-{curves,test-error,step-time}.{svg,png}`);
  console.log(markdown);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
