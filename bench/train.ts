/**
 * The README's training benchmark: the bundled CNN (models/cnn.onnx) trained on Fashion-MNIST
 * through ONNX Runtime (onnxruntime-node, CPU, 2 intra-op threads, 1 inter-op), batch 100, Adam:
 *   - weight-normalized, plain, and with BatchNormalization after each Conv (the paper found WN
 *     "not noticeably slower" than plain and BN 16% slower);
 *   - a forward pass of the WN model at the same batch (a step should cost about three);
 *   - PyTorch training the same architecture, weight-normalized (bench/torch_train.py, Debian's
 *     python3-torch at /usr/bin/python3);
 *   - the epoch measure, as a user waits for it: `wn-onnx train` on the WN CNN (shuffled batches,
 *     the CLI's defaults) for 2 epochs minus 1 epoch, whole processes timed, so start-up cancels;
 *     per step, against three forward passes; PyTorch the same way (bench/torch_train.py --epochs);
 *   - what finding the MaxPools' first maxima costs the step: ONNX Runtime's optimized step graph
 *     against the same graph fed the Indices, in turns with a forward pass in one process;
 *   - with --scale, the vocoder and ResNet-18 rows of bench/scale.ts (step time and peak RSS,
 *     ours and PyTorch's);
 *   - where a WN step's time goes: an ONNX Runtime profile of the step session summed by part of
 *     the step graph (forward, loss, backward, optimizer) and by op type in the backward pass,
 *     next to the JS time outside session.run.
 *
 * Each measurement is a process of its own (`train.js measure CONFIG`): --warmup steps, then
 * --steps timed ones, median step time; --repeat interleaved rounds, the table shows the best
 * median. Batches go through the training set in file order, raw pixel values, built inside the
 * timed step as `wn-onnx train` builds them (inputTensor + Trainer.targetTensor).
 *
 *   npm run bench:train            (builds first)
 *   node dist/bench/train.js [--repeat 3] [--epoch-repeat 5] [--scale] [--warmup 20] [--steps 200] [--data DIR] [--python /usr/bin/python3]
 *
 * Prints a Markdown section on standard output; progress goes to standard error.
 */
import { Command } from 'commander';
import { numberIn, positiveInteger } from '../src/cli/options';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import {
  assignInputs, convert, dataDependentInit, decodeModel, encodeModel, inputSpecs, inputTensor, loadModelFile, Model, nodeRuntime, readSampleData, saveModelFile, withSession,
  type NdArray, type Runtime,
} from '../src/node';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { DataType } from '../src/onnx/enums';
import { makeNode } from '../src/ir/make';
import { tensorValueInfo } from '../src/ir/graph';
import { floatTensor, tensorDims } from '../src/tensor/values';
import type { InputArray } from '../src/data/batch';
import { Trainer } from '../src/train/trainer';
import { median, runProcess } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const CNN = path.join(ROOT, 'models', 'cnn.onnx');
const TORCH_SCRIPT = path.join(ROOT, 'bench', 'torch_train.py');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');
const BATCH = 100;
const LR = 1e-3;
const THREADS = { intraOpNumThreads: 2, interOpNumThreads: 1 };

interface Options { repeat: number; epochRepeat: number; scale?: boolean; warmup: number; steps: number; data: string; python: string }

function parseArgs(argv: string[]): Options {
  return new Command('bench/train.js')
    .option('--repeat <n>', 'rounds; the best median counts', positiveInteger('--repeat'), 3)
    .option('--epoch-repeat <n>', 'rounds of the epoch measure (0: skip it); the best counts', numberIn('--epoch-repeat', 0), 5)
    .option('--scale', 'also the vocoder and ResNet-18 rows (bench/scale.ts: minutes more, GNU time and python3-torch)')
    .option('--warmup <n>', 'steps before timing', positiveInteger('--warmup'), 20)
    .option('--steps <n>', 'timed steps', positiveInteger('--steps'), 200)
    .option('--data <dir>', 'Fashion-MNIST folder', (d: string) => path.resolve(d), process.env.FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist')
    .option('--python <exe>', 'python with torch', '/usr/bin/python3')
    .parse(argv, { from: 'user' })
    .opts<Options>();
}

const log = (line: string) => process.stderr.write(`${line}\n`);

type ModelKind = 'plain' | 'wn' | 'wn-mean-only-bn' | 'wn-init' | 'wn-mean-only-bn-init' | 'bn';

function cnn(kind: ModelKind): Model {
  const { model } = loadModelFile(CNN);
  if (kind === 'wn' || kind === 'wn-init') return convert(model).model;
  if (kind === 'wn-mean-only-bn' || kind === 'wn-mean-only-bn-init') return convert(model, { meanOnlyBn: true }).model;
  return kind === 'bn' ? withBatchNorm(model) : model;
}

/** The CNN with BatchNormalization (scale 1, bias 0, mean 0, variance 1) between each Conv and its activation. */
function withBatchNorm(model: Model): Model {
  const g = model.graph.proto;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [...model.graph.initializers];
  for (const node of model.graph.nodes) {
    if (node.op_type !== 'Conv') {
      nodes.push(node);
      continue;
    }
    const [channels] = tensorDims(model.graph.initializer(node.input![1])!);
    const bn = `${node.name}.bn`;
    const filled = (role: string, value: number) => {
      initializers.push(floatTensor(`${bn}.${role}`, DataType.FLOAT, [channels], new Float32Array(channels).fill(value)));
      return `${bn}.${role}`;
    };
    const convOutput = `${node.output![0]}.conv`;
    nodes.push(
      { ...node, output: [convOutput] },
      makeNode('BatchNormalization', [convOutput, filled('scale', 1), filled('bias', 0), filled('mean', 0), filled('var', 1)], [node.output![0]], {}, bn),
    );
  }
  return new Model({ ...model.proto, graph: { ...g, node: nodes, initializer: initializers } });
}

interface FashionMnist { images: InputArray; labels: NdArray }

function readFashionMnist(dir: string, model: Model): FashionMnist {
  const read = (name: string) => {
    const source = path.join(dir, name);
    return { source, arrays: readSampleData(fs.readFileSync(source), source) };
  };
  const [images] = assignInputs(inputSpecs(model), [read('train-images-idx3-ubyte.gz')]);
  return { images, labels: [...read('train-labels-idx1-ubyte.gz').arrays.values()][0] };
}

/** The rows of step `step`'s batch: consecutive batches through the training set, wrapping around. */
function stepRows(step: number, rows: number): Uint32Array {
  const start = (step % Math.floor(rows / BATCH)) * BATCH;
  return Uint32Array.from({ length: BATCH }, (_, i) => start + i);
}

/**
 * onnxruntime-node whose sessions record the time of each run call and stay reachable (the
 * Trainer keeps its session private; profiling needs it for endProfiling).
 */
function instrumentedRuntime() {
  const base = nodeRuntime();
  const sessions: ort.InferenceSession[] = [];
  const runMs: number[] = [];
  const last: { feeds?: ort.InferenceSession.FeedsType } = {};
  const create = async (...args: unknown[]) => {
    const session = await (base.InferenceSession.create as (...a: unknown[]) => Promise<ort.InferenceSession>)(...args);
    const run = session.run.bind(session) as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
    session.run = (async (...a: unknown[]) => {
      const started = performance.now();
      last.feeds = a[0] as ort.InferenceSession.FeedsType;
      const outputs = await run(...a);
      runMs.push(performance.now() - started);
      return outputs;
    }) as ort.InferenceSession['run'];
    sessions.push(session);
    return session;
  };
  const runtime: Runtime = { Tensor: base.Tensor, InferenceSession: { create } as unknown as typeof ort.InferenceSession };
  return { runtime, sessions, runMs, last };
}

/** One timed training step: all of it, building the feeds, and the session.run inside Trainer.step. */
interface StepTiming { stepMs: number; feedsMs: number; runMs: number }

/** A trainer of the CNN kind and its timed steps, one at a time, through the training set in order. */
async function stepper(kind: ModelKind, o: Options, sessionOptions: ort.InferenceSession.SessionOptions = {}) {
  const model = cnn(kind);
  const data = readFashionMnist(o.data, model);
  const { runtime, sessions, runMs, last } = instrumentedRuntime();
  const input = data.images.spec.name;
  const probe = [2, 3].map((rows) => ({ [input]: inputTensor(runtime, data.images, rows) }));
  // after init the pre-activations are centered: ReLU zeroes about half of every window
  if (kind.endsWith('-init')) await dataDependentInit(model, { [input]: inputTensor(runtime, data.images, BATCH) }, { runtime });
  const trainer = await Trainer.create(model, probe, { runtime, optimizer: { kind: 'adam' }, sessionOptions: { ...THREADS, ...sessionOptions } });
  const stepSession = sessions.at(-1)!; // Trainer.create loads the step graph after probing the model
  let step = 0;
  const next = async (): Promise<StepTiming> => {
    const rows = stepRows(step++, data.labels.shape[0]);
    const started = performance.now();
    const feeds = { [input]: inputTensor(runtime, data.images, rows) };
    const target = trainer.targetTensor(data.labels, rows);
    const fed = performance.now();
    const { loss } = await trainer.step(feeds, target, { lr: LR });
    const ended = performance.now();
    if (!Number.isFinite(loss)) throw new Error(`${kind} CNN: the loss became ${loss} at step ${step}`);
    return { stepMs: ended - started, feedsMs: fed - started, runMs: runMs.at(-1)! };
  };
  return { trainer, stepSession, next, lastFeeds: () => last.feeds! };
}

async function trainSteps(kind: ModelKind, o: Options, sessionOptions: ort.InferenceSession.SessionOptions = {}) {
  const { trainer, stepSession, next } = await stepper(kind, o, sessionOptions);
  const timings: StepTiming[] = [];
  for (let step = 0; step < o.warmup + o.steps; step++) {
    const timing = await next();
    if (step >= o.warmup) timings.push(timing);
  }
  return { trainer, stepSession, timings };
}

/** Blocks of steps of each configuration of a pair taken in turns in one process. */
const PAIR_BLOCKS = 8;

/** Each configuration's median step per block, in ms. */
interface PairResult { perBlock: number; first: number[]; second: number[] }

/**
 * Two configurations in one process, a block of steps of each in turn (which goes first
 * swapped every block): both see the same speed of this machine, whose level jumps between
 * processes, so their ratio holds where the process-per-configuration table's may not.
 */
async function measurePair(kinds: [ModelKind, ModelKind], o: Options): Promise<PairResult> {
  const steppers = [await stepper(kinds[0], o), await stepper(kinds[1], o)];
  for (const s of steppers) for (let step = 0; step < o.warmup; step++) await s.next();
  const perBlock = blockRuns(o);
  const times = await inTurns(steppers.map((s) => async () => (await s.next()).stepMs), PAIR_BLOCKS, perBlock);
  for (const s of steppers) await s.trainer.release();
  return { perBlock, first: times[0].map(median), second: times[1].map(median) };
}

/** Runs in one block of inTurns: a quarter of the timed steps. */
function blockRuns(o: Options): number {
  return Math.max(1, Math.round(o.steps / 4));
}

/**
 * `perBlock` runs of each of `runs` (each returns its time in ms), a block of each in turn, the
 * order reversed every other block, so all see the same machine speed: each run's times by block.
 */
async function inTurns(runs: (() => Promise<number>)[], blocks: number, perBlock: number): Promise<number[][][]> {
  const times = runs.map((): number[][] => []);
  for (let block = 0; block < blocks; block++) {
    const order = runs.map((_, i) => i);
    for (const i of block % 2 ? order.reverse() : order) {
      const blockTimes: number[] = [];
      for (let run = 0; run < perBlock; run++) blockTimes.push(await runs[i]());
      times[i].push(blockTimes);
    }
  }
  return times;
}

interface TrainingResult { stepMs: number; runMs: number; feedsMs: number }

async function measureTraining(kind: ModelKind, o: Options): Promise<TrainingResult> {
  const { trainer, timings } = await trainSteps(kind, o);
  await trainer.release();
  return { stepMs: median(timings.map((t) => t.stepMs)), runMs: median(timings.map((t) => t.runMs)), feedsMs: median(timings.map((t) => t.feedsMs)) };
}

/** Median forward pass of the WN CNN at the training batch size (session.run only). */
async function measureForward(o: Options): Promise<{ forwardMs: number }> {
  const model = cnn('wn');
  const data = readFashionMnist(o.data, model);
  const runtime = nodeRuntime();
  const times: number[] = [];
  await withSession(runtime, model, { options: THREADS }, async (session) => {
    for (let run = 0; run < o.warmup + o.steps; run++) {
      const feeds = { [data.images.spec.name]: inputTensor(runtime, data.images, stepRows(run, data.labels.shape[0])) };
      const started = performance.now();
      await session.run(feeds);
      if (run >= o.warmup) times.push(performance.now() - started);
    }
  });
  return { forwardMs: median(times) };
}

/** Blocks of runs of each session taken in turns by measureFreeIndices. */
const FREE_INDICES_BLOCKS = 12;

/** Median session.run of the step, of the step given its pools' Indices, and of one forward pass, in ms. */
interface FreeIndicesResult { stepMs: number; givenMs: number; forwardMs: number; indices: number; maxDifference: number }

/**
 * What computing the MaxPools' Indices costs the step, measured by leaving it out: the step graph
 * as ONNX Runtime runs it (its optimized model, saved at session creation: NCHWc lowering and
 * fusions included) against the same graph where each MaxUnpool reads its Indices from a graph
 * input, fed the values the step computed for the same batch, so both give the same outputs.
 * What is left is a bound for any way of finding the first maxima (the scatter into the input
 * gradient stays). The forward pass runs in the same turns, so all three see one machine speed.
 */
async function measureFreeIndices(o: Options): Promise<FreeIndicesResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-bench-indices-'));
  try {
    const saved = path.join(dir, 'step.onnx');
    const { trainer, next, lastFeeds } = await stepper('wn', o, { optimizedModelFilePath: saved });
    await next();
    const feeds = lastFeeds();
    await trainer.release();
    const runtime = nodeRuntime();
    const open = (model: Model) => runtime.InferenceSession.create(encodeModel(model.proto), THREADS);
    const bytes = fs.readFileSync(saved);
    const withIndices = new Model(decodeModel(bytes));
    const names = withIndices.graph.nodes.filter((n) => n.op_type === 'MaxUnpool').map((n) => n.input![1]);
    withIndices.graph.proto.output!.push(...names.map((name) => ({ name })));
    const indexSession = await open(withIndices);
    const indices = await indexSession.run(feeds);
    await indexSession.release();
    const given = new Model(decodeModel(bytes));
    for (const name of names) {
      for (const unpool of given.graph.consumers(name)) given.graph.redirectInput(unpool, name, `${name}/given`);
    }
    given.graph.appendGraphInputs(names.map((name) => tensorValueInfo(`${name}/given`, DataType.INT64, indices[name].dims)));
    given.graph.removeUnused(given.graph.nodes);
    const givenFeeds = { ...feeds, ...Object.fromEntries(names.map((name) => [`${name}/given`, indices[name]])) };
    const [step, stepGiven] = [await runtime.InferenceSession.create(bytes, THREADS), await open(given)];
    const forwardModel = cnn('wn');
    const input = forwardModel.graph.inputs[0].name!;
    const forward = await open(forwardModel);
    const [a, b] = [await step.run(feeds), await stepGiven.run(givenFeeds)];
    let maxDifference = 0;
    for (const [name, t] of Object.entries(a)) {
      const [x, y] = [t.data as Float32Array, b[name].data as Float32Array];
      for (let i = 0; i < x.length; i++) maxDifference = Math.max(maxDifference, Math.abs(x[i] - y[i]));
    }
    const runs: [ort.InferenceSession, ort.InferenceSession.FeedsType][] = [[step, feeds], [stepGiven, givenFeeds], [forward, { [input]: feeds[input] }]];
    const timed = runs.map(([session, sessionFeeds]) => async () => {
      const started = performance.now();
      await session.run(sessionFeeds);
      return performance.now() - started;
    });
    const [stepMs, givenMs, forwardMs] = (await inTurns(timed, FREE_INDICES_BLOCKS, blockRuns(o))).map((blocks) => median(blocks.flat()));
    for (const [session] of runs) await session.release();
    return { stepMs, givenMs, forwardMs, indices: names.length, maxDifference };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const PARTS = ['forward', 'loss', 'backward', 'optimizer'] as const;
type GraphPart = (typeof PARTS)[number];

/** Which part of the step graph a node belongs to, by the names src/train/step-graph.ts gives them. */
function graphPart(node: string): GraphPart {
  if (node.startsWith('grad/')) return 'backward';
  if (node.startsWith('loss/')) return 'loss';
  if (node.startsWith('optimizer/')) return 'optimizer';
  return 'forward';
}

interface TraceEvent { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }

/** One profiled step, in ms: kernel time by graph part and by backward op type, and the step's other times. */
interface ProfiledStep extends StepTiming { modelRunMs: number; parts: Record<GraphPart, number>; backwardOps: Map<string, number> }

/** Where the time of a WN training step goes: per-step averages over the steps between the quartiles of step time. */
interface Breakdown { steps: number; rows: { part: string; ms: number }[]; backwardOps: { op: string; ms: number }[] }

async function measureProfile(o: Options): Promise<Breakdown> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-bench-train-'));
  try {
    const profiling = { enableProfiling: true, profileFilePrefix: path.join(dir, 'step') };
    const { trainer, stepSession, timings } = await trainSteps('wn', o, profiling);
    stepSession.endProfiling();
    await trainer.release();
    const [file] = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as TraceEvent[];
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(o.warmup);
    if (runs.length !== timings.length) throw new Error(`the profile holds ${runs.length + o.warmup} step runs, ${o.warmup + timings.length} steps were taken`);
    const steps: ProfiledStep[] = runs.map((run, i) => ({ ...timings[i], modelRunMs: run.dur / 1e3, parts: { forward: 0, loss: 0, backward: 0, optimizer: 0 }, backwardOps: new Map() }));
    const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    for (const kernel of kernels) {
      const i = runs.findIndex((r) => kernel.ts >= r.ts && kernel.ts < r.ts + r.dur);
      if (i < 0) continue; // a warm-up step
      const part = graphPart(kernel.name.slice(0, -'_kernel_time'.length));
      const ms = kernel.dur / 1e3;
      steps[i].parts[part] += ms;
      if (part === 'backward') {
        const op = kernel.args?.op_name ?? '?';
        steps[i].backwardOps.set(op, (steps[i].backwardOps.get(op) ?? 0) + ms);
      }
    }
    return summarize(steps);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Averages over the steps whose time lies between the quartiles: robust to a noisy machine, and the parts add up. */
function summarize(all: ProfiledStep[]): Breakdown {
  const sorted = [...all].sort((a, b) => a.stepMs - b.stepMs);
  const steps = sorted.slice(Math.floor(sorted.length / 4), Math.ceil((sorted.length * 3) / 4));
  const mean = (f: (s: ProfiledStep) => number) => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
  const kernelMs = (s: ProfiledStep) => PARTS.reduce((sum, p) => sum + s.parts[p], 0);
  const rows = [
    { part: 'forward (train mode, W = g·v/‖v‖)', ms: mean((s) => s.parts.forward) },
    { part: 'loss', ms: mean((s) => s.parts.loss) },
    { part: 'backward (`grad/…`)', ms: mean((s) => s.parts.backward) },
    { part: 'optimizer (Adam)', ms: mean((s) => s.parts.optimizer) },
    { part: 'ONNX Runtime between kernels (model_run − kernels)', ms: mean((s) => s.modelRunMs - kernelMs(s)) },
    { part: 'onnxruntime-node binding (session.run − model_run)', ms: mean((s) => s.runMs - s.modelRunMs) },
    { part: 'JS: batch tensor + one-hot target', ms: mean((s) => s.feedsMs) },
    { part: 'JS: Trainer.step outside session.run', ms: mean((s) => s.stepMs - s.feedsMs - s.runMs) },
  ];
  const ops = new Set(steps.flatMap((s) => [...s.backwardOps.keys()]));
  const backwardOps = [...ops].map((op) => ({ op, ms: mean((s) => s.backwardOps.get(op) ?? 0) })).sort((a, b) => b.ms - a.ms);
  return { steps: steps.length, rows, backwardOps };
}

async function measure(config: string, o: Options): Promise<unknown> {
  switch (config) {
    case 'plain': case 'wn': case 'wn-mean-only-bn': case 'wn-init': case 'wn-mean-only-bn-init': case 'bn':
      return measureTraining(config, o);
    case 'forward': return measureForward(o);
    case 'profile': return measureProfile(o);
    case 'free-indices': return measureFreeIndices(o);
    case 'pair': return measurePair(['wn', 'wn-mean-only-bn'], o);
    case 'pair-init': return measurePair(['wn-init', 'wn-mean-only-bn-init'], o);
    default: throw new Error(`unknown configuration ${config}`);
  }
}

const CONFIGS: { kind: ModelKind; label: string }[] = [
  { kind: 'plain', label: 'Plain CNN' },
  { kind: 'wn', label: 'Weight-normalized CNN' },
  { kind: 'wn-mean-only-bn', label: 'Weight-normalized CNN with mean-only BN after each layer' },
  { kind: 'wn-init', label: 'Weight-normalized CNN after data-dependent init' },
  { kind: 'wn-mean-only-bn-init', label: 'WN CNN with mean-only BN after data-dependent init' },
  { kind: 'bn', label: 'CNN with BatchNormalization after each Conv' },
];

/** Whole-process seconds of each round's 1-epoch and 2-epoch runs. */
interface EpochRuns { one: number[]; two: number[] }

/**
 * The epoch measure, per step: a whole 2-epoch run minus a whole 1-epoch run (start-up, reading
 * the data and writing the model cancel), divided by the steps of an epoch. `wn-onnx train` on
 * the WN CNN as a user runs it (shuffled, its default threads), and PyTorch the same way.
 */
function epochMeasure(o: Options, torchSkipped: string | undefined): { ours: EpochRuns; torch: EpochRuns; steps: number } {
  const images = path.join(o.data, 'train-images-idx3-ubyte.gz');
  const labels = path.join(o.data, 'train-labels-idx1-ubyte.gz');
  const [labelArray] = readSampleData(fs.readFileSync(labels), labels).values();
  const steps = Math.ceil(labelArray.shape[0] / BATCH);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-bench-epoch-'));
  const model = path.join(dir, 'cnn_wn.onnx');
  saveModelFile(cnn('wn'), model);
  const ours = (epochs: number) => runProcess(process.execPath, [
    CLI, 'train', model, '--data', images, '--labels', labels, '--epochs', String(epochs), '--lr', String(LR),
    '--batch-size', String(BATCH), '-o', path.join(dir, 'trained.onnx'),
  ]).seconds;
  const torch = (epochs: number) => runProcess(o.python, [
    TORCH_SCRIPT, o.data, '--epochs', String(epochs), '--batch', String(BATCH), '--threads', String(THREADS.intraOpNumThreads),
  ]).seconds;
  const result = { ours: { one: [] as number[], two: [] as number[] }, torch: { one: [] as number[], two: [] as number[] }, steps };
  const round = (runs: EpochRuns, run: (epochs: number) => number, label: string) => {
    runs.one.push(run(1));
    runs.two.push(run(2));
    log(`  epoch measure, ${label} #${runs.one.length}: 1 epoch ${runs.one.at(-1)!.toFixed(2)} s, 2 epochs ${runs.two.at(-1)!.toFixed(2)} s`);
  };
  try {
    for (let r = 1; r <= o.epochRepeat; r++) {
      round(result.ours, ours, 'wn-onnx train');
      if (!torchSkipped) round(result.torch, torch, 'PyTorch');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

interface TorchResult { stepMs: number; samplesPerSecond: number; torch: string }

function optionArgs(o: Options): string[] {
  return ['--warmup', String(o.warmup), '--steps', String(o.steps), '--data', o.data];
}

function measured<T>(config: string, o: Options): T {
  return JSON.parse(runProcess(process.execPath, [__filename, 'measure', config, ...optionArgs(o)]).stdout) as T;
}

/** Why PyTorch cannot run, or undefined when it can. */
function torchMissing(python: string): string | undefined {
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${python} not found`;
  return r.status === 0 ? undefined : `${python} cannot import torch (install Debian's python3-torch, or pass --python)`;
}

function git(args: string[]): string {
  return spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const loadAverage = os.loadavg()[0];
  const torchSkipped = torchMissing(o.python);
  const training = new Map<ModelKind, TrainingResult[]>(CONFIGS.map((c) => [c.kind, []]));
  const forwards: number[] = [];
  const torchRuns: TorchResult[] = [];
  for (let round = 1; round <= o.repeat; round++) {
    for (const { kind, label } of CONFIGS) {
      const r = measured<TrainingResult>(kind, o);
      training.get(kind)!.push(r);
      log(`  ${label} #${round}: step ${r.stepMs.toFixed(2)} ms (session.run ${r.runMs.toFixed(2)} ms)`);
    }
    const { forwardMs } = measured<{ forwardMs: number }>('forward', o);
    forwards.push(forwardMs);
    log(`  forward pass (WN CNN) #${round}: ${forwardMs.toFixed(2)} ms`);
    if (!torchSkipped) {
      const r = JSON.parse(runProcess(o.python, [TORCH_SCRIPT, o.data, '--batch', String(BATCH), '--warmup', String(o.warmup), '--steps', String(o.steps), '--threads', String(THREADS.intraOpNumThreads)]).stdout) as TorchResult;
      torchRuns.push(r);
      log(`  PyTorch WN CNN #${round}: step ${r.stepMs.toFixed(2)} ms`);
    }
  }
  log('  WN and mean-only BN in turns in one process …');
  const pairs = (['pair', 'pair-init'] as const).map((config) => measured<PairResult>(config, o));
  const epochs = epochMeasure(o, torchSkipped);
  if (o.scale) log('  the vocoder and ResNet-18 (bench/scale.ts) …');
  const scale = o.scale ? runProcess(process.execPath, [path.join(__dirname, 'scale.js'), '--python', o.python]).stdout.trim() : undefined;
  log('  the step with its pools\' Indices given …');
  const free = measured<FreeIndicesResult>('free-indices', o);
  log('  profiling a WN training step …');
  const breakdown = measured<Breakdown>('profile', o);

  const best = (kind: ModelKind) => training.get(kind)!.reduce((a, b) => (b.stepMs < a.stepMs ? b : a));
  const plain = best('plain').stepMs;
  const wn = best('wn');
  const forwardMs = Math.min(...forwards);
  const samples = (ms: number) => Math.round((BATCH / ms) * 1e3);
  const rows = CONFIGS.map(({ kind, label }) => {
    const { stepMs } = best(kind);
    const ofWn = kind === 'bn' || kind === 'wn-mean-only-bn' ? `, ${(stepMs / wn.stepMs).toFixed(2)}× WN's`
      : kind === 'wn-mean-only-bn-init' ? `, ${(stepMs / best('wn-init').stepMs).toFixed(2)}× WN's after init` : '';
    const relative = kind === 'plain' ? '1.00 (reference)' : `${(stepMs / plain).toFixed(2)}× plain's step time${ofWn}`;
    return `| ${label} | ${stepMs.toFixed(2)} | ${samples(stepMs)} | ${relative} |`;
  });
  if (torchRuns.length) {
    const torch = torchRuns.reduce((a, b) => (b.stepMs < a.stepMs ? b : a));
    rows.push(`| PyTorch ${torch.torch}, weight-normalized CNN (${THREADS.intraOpNumThreads} threads) | ${torch.stepMs.toFixed(2)} | ${samples(torch.stepMs)} | ours (WN) ${(torch.stepMs / wn.stepMs).toFixed(2)}× its samples/s |`);
  }
  rows.push(`| Forward pass only, WN CNN (InferenceSession) | ${forwardMs.toFixed(2)} | ${samples(forwardMs)} | WN step / (3 × forward) = ${(wn.stepMs / (3 * forwardMs)).toFixed(2)} (session.run only: ${(wn.runMs / (3 * forwardMs)).toFixed(2)}) |`);

  // the fastest 2-epoch run less the fastest 1-epoch run: each run's own slow stretches (this
  // machine's speed jumps between two levels) left out, where one round's difference may take
  // them from either side; the medians beside
  const { steps } = epochs;
  const epochStep = (runs: EpochRuns, pick: (values: number[]) => number) => ((pick(runs.two) - pick(runs.one)) * 1e3) / steps;
  const fastest = (values: number[]) => Math.min(...values);
  const epochRows: string[] = [];
  if (epochs.ours.one.length) {
    const ours = epochStep(epochs.ours, fastest);
    const row = (label: string, runs: EpochRuns, last: string) => {
      const ms = epochStep(runs, fastest);
      return `| ${label} | ${ms.toFixed(2)} | ${epochStep(runs, median).toFixed(2)} | ${samples(ms)} | ${(ms / (3 * forwardMs)).toFixed(2)} | ${last} |`;
    };
    epochRows.push(row('`wn-onnx train`, WN CNN', epochs.ours, wn.stepMs.toFixed(2)));
    if (epochs.torch.one.length) {
      const torch = epochStep(epochs.torch, fastest);
      epochRows.push(row('PyTorch, WN CNN', epochs.torch, `ours ${(torch / ours).toFixed(2)}× its samples/s`));
    }
  }
  const pairRows = pairs.map((pair, i) => {
    const ratios = pair.first.map((ms, block) => pair.second[block] / ms);
    const [wnBest, mobBest] = [Math.min(...pair.first), Math.min(...pair.second)];
    const label = i ? 'after data-dependent init' : 'as converted';
    return `| ${label} | ${wnBest.toFixed(2)} | ${mobBest.toFixed(2)} | ${(mobBest / wnBest).toFixed(3)} | ${median(ratios).toFixed(3)} `
      + `(${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}) |`;
  });
  const stepTotal = breakdown.rows.reduce((sum, r) => sum + r.ms, 0);
  const backwardTotal = breakdown.backwardOps.reduce((sum, r) => sum + r.ms, 0);
  const otherOps = breakdown.backwardOps.slice(8);
  const otherMs = otherOps.reduce((sum, r) => sum + r.ms, 0);
  const matrixMs = breakdown.backwardOps.filter((r) => /^(Fused)?(Conv|ConvTranspose|Gemm|MatMul)$/.test(r.op)).reduce((sum, r) => sum + r.ms, 0);
  const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;
  const ortVersion = (require('onnxruntime-node') as { env: { versions: { node: string } } }).env.versions.node;
  console.log([
    `### Training benchmark (${new Date().toISOString().slice(0, 10)}, commit ${git(['rev-parse', '--short', 'HEAD'])})`, '',
    `The bundled CNN (models/cnn.onnx) on Fashion-MNIST, batch ${BATCH}, Adam (lr ${LR}), cross-entropy. onnxruntime-node ${ortVersion} CPU with intraOpNumThreads ${THREADS.intraOpNumThreads}, interOpNumThreads ${THREADS.interOpNumThreads}; Node ${process.version}; ${os.cpus()[0]?.model?.trim()}, nproc ${os.availableParallelism()}, load average ${loadAverage.toFixed(1)} at the start.`,
    `Step time: median of ${o.steps} steps after ${o.warmup} warm-up steps, building the batch feeds included; each configuration a process of its own, best of ${o.repeat} round${o.repeat === 1 ? '' : 's'}. The forward pass is session.run alone, on the WN model as converted (ONNX Runtime folds W = g·v/‖v‖ into a constant there and fuses Conv+Relu).`, '',
    '| Configuration | Step (ms) | Samples/s | Ratio |', '|---|---|---|---|',
    ...rows,
    ...(torchSkipped ? ['', `PyTorch comparison skipped: ${torchSkipped}.`] : []), '',
    `Mean-only BN against WN with both trainers in one process, ${PAIR_BLOCKS} blocks of ${pairs[0].perBlock} steps of each in turn (the same machine speed for both; a block's median step):`, '',
    '| WN CNN | WN: best block (ms) | Mean-only BN: best block (ms) | Ratio of the best | Median ratio of a block pair (range) |', '|---|---|---|---|---|',
    ...pairRows, '',
    ...(epochRows.length ? [
      `The epoch measure: a whole 2-epoch run minus a whole 1-epoch run (start-up cancels), per step (${steps} steps of ${BATCH} samples), shuffled batches, each tool's defaults otherwise, ${o.epochRepeat} rounds: the fastest 2-epoch run less the fastest 1-epoch run, and the same of the medians; against three forward passes (${forwardMs.toFixed(2)} ms each, above):`, '',
      '| Epoch of Fashion-MNIST | ms/step (fastest) | ms/step (medians) | Samples/s (fastest) | × three forwards | Median step (above) |', '|---|---|---|---|---|---|',
      ...epochRows, '',
    ] : []),
    `What finding the pools' first maxima costs (the step graph as ONNX Runtime optimized it, against the same graph fed the MaxUnpools' ${free.indices} Indices tensors computed for the same batch; outputs equal within ${free.maxDifference}; medians of ${FREE_INDICES_BLOCKS} blocks of runs taken in turns with a forward pass): session.run ${free.stepMs.toFixed(2)} ms with the Indices computed, ${free.givenMs.toFixed(2)} ms given, forward ${free.forwardMs.toFixed(2)} ms: the step is ${(free.stepMs / (3 * free.forwardMs)).toFixed(2)}× three forwards, ${(free.givenMs / (3 * free.forwardMs)).toFixed(2)}× with the Indices free.`, '',
    ...(scale ? ['Training at scale (bench/scale.ts): HiFi-GAN V1 generator and ResNet-18, wn-onnx train against PyTorch.', '', scale, ''] : []),
    `Where a WN training step goes (ONNX Runtime profiling on, so slower than above; per-step averages over the ${breakdown.steps} steps between the quartiles of step time):`, '',
    '| Part of the step | ms/step | Share |', '|---|---|---|',
    ...breakdown.rows.map((r) => `| ${r.part} | ${r.ms.toFixed(2)} | ${pct(r.ms, stepTotal)} |`),
    `| total | ${stepTotal.toFixed(2)} | 100% |`, '',
    `Backward pass by op type (Conv/ConvTranspose/Gemm/MatMul kernels: ${pct(matrixMs, backwardTotal)} of it; the rest is elementwise, reduction, pooling and shape ops):`, '',
    '| Op type | ms/step | Share of backward |', '|---|---|---|',
    ...breakdown.backwardOps.slice(0, 8).map((r) => `| ${r.op} | ${r.ms.toFixed(2)} | ${pct(r.ms, backwardTotal)} |`),
    `| other (${otherOps.length} op types) | ${otherMs.toFixed(2)} | ${pct(otherMs, backwardTotal)} |`,
  ].join('\n'));
}

async function worker(config: string, argv: string[]): Promise<void> {
  console.log(JSON.stringify(await measure(config, parseArgs(argv))));
}

if (process.argv[2] === 'measure') {
  worker(process.argv[3], process.argv.slice(4)).catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
} else {
  main();
}
