/**
 * Training at the scale of real models: a HiFi-GAN V1 generator (the vocoder, about 13.9 M
 * parameters: Conv1d, ConvTranspose1d upsampling by 8·8·2·2, dilated residual blocks) and a
 * ResNet-18 at 3×64×64, both written in PyTorch 1.13 and exported to ONNX by
 * bench/scale_torch.py (Debian's python3-torch, benchmark only), converted to weight norm with
 * `wn-onnx convert` and trained with `wn-onnx train` (Adam, random inputs and targets: L1 on
 * the vocoder's audio, cross-entropy on ResNet-18's logits). PyTorch trains the same networks
 * with torch.nn.utils.weight_norm on every layer, same batch, same loss, 2 threads.
 *
 * Step time: wn-onnx's epoch 2 of a 2-epoch run divided by its steps (start-up and the first
 * epoch's warm-up left out); PyTorch's median step after warm-up. Peak memory: the peak RSS
 * of the whole process, each side measured by GNU time.
 *
 *   npm run bench:scale
 *   node dist/bench/scale.js [--steps 4] [--models vocoder,resnet18] [--vocoder-batch 2] [--frames 16] [--resnet-batch 16]
 *                            [--out DIR] [--python /usr/bin/python3]
 *
 * HiFi-GAN's own training size is --vocoder-batch 16 --frames 32 (8,192 audio samples per clip).
 *
 * Prints a Markdown table on standard output; progress goes to standard error.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { positiveInteger } from '../src/cli/options';
import { seededNormal, seededRandom } from '../src/tensor/random';
import { npy, writeFile } from './files';
import { measured, requireGnuTime, runProcess } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');
const TORCH_SCRIPT = path.join(ROOT, 'bench', 'scale_torch.py');

interface ScaleModel {
  name: 'vocoder' | 'resnet18';
  label: string;
  batch: number;
  /** One sample's input and target dims, and the target's kind. */
  input: number[];
  target: number[];
  loss: 'l1' | 'cross-entropy';
}

/** Audio samples per mel frame (HiFi-GAN V1's upsampling, 8·8·2·2). */
const HOP = 256;

/** By default the vocoder on 16 mel frames (4,096 samples of audio) at batch 2: a step of about a second on 2 cores. */
function scaleModels(o: Options): ScaleModel[] {
  return [
    { name: 'vocoder', label: 'HiFi-GAN V1 generator (vocoder)', batch: o.vocoderBatch, input: [80, o.frames], target: [1, o.frames * HOP], loss: 'l1' },
    { name: 'resnet18', label: 'ResNet-18, 3×64×64', batch: o.resnetBatch, input: [3, 64, 64], target: [], loss: 'cross-entropy' },
  ];
}

interface Options { steps: number; models: string; vocoderBatch: number; frames: number; resnetBatch: number; out?: string; python: string }

function parseArgs(argv: string[]): Options {
  return new Command('bench/scale.js')
    .option('--steps <n>', 'steps per epoch (wn-onnx) and timed steps (PyTorch)', positiveInteger('--steps'), 4)
    .option('--models <list>', 'comma-separated: vocoder, resnet18', 'vocoder,resnet18')
    .option('--vocoder-batch <n>', 'clips per vocoder step', positiveInteger('--vocoder-batch'), 2)
    .option('--frames <n>', `mel frames per vocoder clip (${HOP} audio samples each)`, positiveInteger('--frames'), 16)
    .option('--resnet-batch <n>', 'images per ResNet-18 step', positiveInteger('--resnet-batch'), 16)
    .option('--out <dir>', 'folder for the models and data (default: a temporary one, removed after)')
    .option('--python <exe>', 'python with torch', '/usr/bin/python3')
    .parse(argv, { from: 'user' })
    .opts<Options>();
}

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Row { model: ScaleModel; params: number; ours: { stepMs: number; rssMB: number; estimate: string }; torch: { stepMs: number; rssMB: number } }

/** Random inputs (standard normal) and targets (audio in [−1, 1], or class labels 0–9) for `rows` samples. */
function writeData(dir: string, m: ScaleModel, rows: number): { data: string; labels: string } {
  const count = (dims: number[]) => dims.reduce((p, d) => p * d, 1);
  const normal = seededNormal(1);
  const uniform = seededRandom(2);
  const data = path.join(dir, `${m.name}-inputs.npy`);
  writeFile(data, npy(Float32Array.from({ length: rows * count(m.input) }, normal), [rows, ...m.input]));
  const labels = path.join(dir, `${m.name}-targets.npy`);
  const targets = m.loss === 'l1'
    ? npy(Float32Array.from({ length: rows * count(m.target) }, () => 2 * uniform() - 1), [rows, ...m.target])
    : npy(BigInt64Array.from({ length: rows }, () => BigInt(Math.floor(10 * uniform()))), [rows]);
  writeFile(labels, targets);
  return { data, labels };
}

function measureOurs(dir: string, m: ScaleModel, o: Options): Row['ours'] {
  const plain = path.join(dir, `${m.name}.onnx`);
  const converted = path.join(dir, `${m.name}.wn.onnx`);
  runProcess(process.execPath, [CLI, 'convert', plain, '-o', converted]);
  const { data, labels } = writeData(dir, m, m.batch * o.steps);
  const args = [
    CLI, 'train', converted, '--data', data, '--labels', labels, '--loss', m.loss, '--batch-size', String(m.batch),
    '--epochs', '2', '--no-shuffle', '--json', '-o', path.join(dir, `${m.name}.trained.onnx`),
  ];
  const run = measured(process.execPath, args);
  const { epochs } = JSON.parse(run.stdout) as { epochs: { seconds: number }[] };
  const estimate = /estimated step memory (\S+ [MG]B)/.exec(run.stderr)?.[1] ?? '?';
  return { stepMs: (1000 * epochs[1].seconds) / o.steps, rssMB: run.rssBytes / 2 ** 20, estimate };
}

function measureTorch(m: ScaleModel, o: Options): Row['torch'] & { params: number } {
  const run = measured(o.python, [
    TORCH_SCRIPT, 'train', m.name, '--steps', String(o.steps), '--warmup', '1', '--threads', '2', '--batch', String(m.batch), '--frames', String(o.frames),
  ]);
  const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { params: number; stepMs: number };
  return { params: result.params, stepMs: result.stepMs, rssMB: run.rssBytes / 2 ** 20 };
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  requireGnuTime();
  const known = scaleModels(o);
  const models = o.models.split(',').map((name) => {
    const m = known.find((c) => c.name === name.trim());
    if (!m) throw new Error(`--models: unknown model "${name}"; known: ${known.map((c) => c.name).join(', ')}`);
    return m;
  });
  const dir = o.out ? path.resolve(o.out) : fs.mkdtempSync(path.join(os.tmpdir(), 'wn-bench-scale-'));
  fs.mkdirSync(dir, { recursive: true });
  try {
    log(`exporting the PyTorch models into ${dir}`);
    runProcess(o.python, [
      TORCH_SCRIPT, 'export', dir, '--frames', String(o.frames), '--batch-vocoder', String(o.vocoderBatch), '--batch-resnet', String(o.resnetBatch),
    ]);
    const rows: Row[] = [];
    for (const m of models) {
      log(`${m.label}: wn-onnx train (${o.steps} steps per epoch, 2 epochs)`);
      const ours = measureOurs(dir, m, o);
      log(`  ${ours.stepMs.toFixed(0)} ms per step, peak RSS ${ours.rssMB.toFixed(0)} MB (estimated ${ours.estimate})`);
      log(`${m.label}: PyTorch`);
      const { params, ...torch } = measureTorch(m, o);
      log(`  ${torch.stepMs.toFixed(0)} ms per step, peak RSS ${torch.rssMB.toFixed(0)} MB`);
      rows.push({ model: m, params, ours, torch });
    }
    console.log(report(rows, o));
  } finally {
    if (!o.out) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report(rows: Row[], o: Options): string {
  const date = new Date().toISOString().slice(0, 10);
  const commit = runProcess('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).stdout.trim();
  return [
    `Measured ${date} at commit ${commit} (${o.steps} steps per measurement; the vocoder on ${o.frames} mel frames, ${o.frames * HOP} audio samples per clip):`,
    '',
    '| Model | Parameters | Batch | wn-onnx step | PyTorch step | wn-onnx peak RSS (estimate) | PyTorch peak RSS | RSS ratio |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(({ model, params, ours, torch }) => [
      model.label, `${(params / 1e6).toFixed(2)} M`, model.batch,
      `${ours.stepMs.toFixed(0)} ms`, `${torch.stepMs.toFixed(0)} ms`,
      `${ours.rssMB.toFixed(0)} MB (${ours.estimate})`, `${torch.rssMB.toFixed(0)} MB`, `${(ours.rssMB / torch.rssMB).toFixed(2)}×`,
    ].join(' | ')).map((line) => `| ${line} |`),
  ].join('\n');
}

main();
