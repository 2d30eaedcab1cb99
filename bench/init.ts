/**
 * The README's init benchmark: data-dependent init of a ResNet-18-sized network (the 18-layer
 * residual architecture, 11.7 M parameters, weight-normalized convolutions with biases instead
 * of batch norm, as the paper uses WN) on a batch of 64 images, against one plain forward pass
 * of the same batch through the same model, and against the naive procedure (one ONNX Runtime
 * run per layer, `wn-onnx init --per-layer`).
 *
 * Each measurement is a process of its own timed end to end (start to exit: model load,
 * session, run, and for init writing the output): one untimed warm-up round, then --repeat
 * interleaved rounds; the table shows the best.
 *
 *   npm run bench:init            (builds first)
 *   node dist/bench/init.js [--dir /tmp/wn-bench-init] [--size 128] [--batch 64] [--repeat 3] [--keep]
 */
import { Command } from 'commander';
import { positiveInteger } from '../src/cli/options';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump } from 'npyjs';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { floatTensor } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { saveModelFile } from '../src/node/model-file';
import { runProcess } from './process';
import { elementCount } from '../src/tensor/values';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');
const FORWARD = path.join(__dirname, 'forward.js');
const F = DataType.FLOAT;

/** ResNet-18 (He et al. 2016, ImageNet layout) with conv biases, random He-uniform weights. */
function resnet18() {
  const random = seededRandom(18);
  const initializers: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  const tensor = (name: string, dims: number[], bound: number) =>
    initializers.push(floatTensor(name, F, dims, Float32Array.from({ length: elementCount(dims) }, () => (random() * 2 - 1) * bound)));
  const conv = (name: string, x: string, cin: number, cout: number, k: number, stride: number) => {
    tensor(`${name}.weight`, [cout, cin, k, k], Math.sqrt(6 / (cin * k * k)));
    tensor(`${name}.bias`, [cout], 1 / Math.sqrt(cin * k * k));
    const p = (k - 1) >> 1;
    nodes.push(makeNode('Conv', [x, `${name}.weight`, `${name}.bias`], [name], { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p] }));
    return name;
  };
  const relu = (x: string) => { nodes.push(makeNode('Relu', [x], [`${x}.relu`])); return `${x}.relu`; };
  let x = relu(conv('conv1', 'image', 3, 64, 7, 2));
  nodes.push(makeNode('MaxPool', [x], ['pool'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }));
  x = 'pool';
  let channels = 64;
  for (const [stage, width] of [64, 128, 256, 512].entries()) {
    for (let block = 0; block < 2; block++) {
      const name = `layer${stage + 1}.${block}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const h = relu(conv(`${name}.conv1`, x, channels, width, 3, stride));
      const y = conv(`${name}.conv2`, h, width, width, 3, 1);
      const shortcut = stride !== 1 || channels !== width ? conv(`${name}.downsample`, x, channels, width, 1, stride) : x;
      nodes.push(makeNode('Add', [y, shortcut], [`${name}.sum`]));
      x = relu(`${name}.sum`);
      channels = width;
    }
  }
  nodes.push(makeNode('GlobalAveragePool', [x], ['gap']), makeNode('Flatten', ['gap'], ['features']));
  tensor('fc.weight', [1000, 512], 1 / Math.sqrt(512));
  tensor('fc.bias', [1000], 1 / Math.sqrt(512));
  nodes.push(makeNode('Gemm', ['features', 'fc.weight', 'fc.bias'], ['logits'], { transB: 1 }));
  return makeModel({ opset: 17, name: 'resnet18', nodes, initializers, inputs: [tensorInfo('image', F, ['batch', 3, 'height', 'width'])], outputs: [tensorInfo('logits', F, ['batch', 1000])] });
}

function parse(argv: string[]) {
  return new Command('bench/init.js')
    .option('--dir <dir>', 'working folder', (d: string) => path.resolve(d), path.join(os.tmpdir(), 'wn-bench-init'))
    .option('--size <n>', 'image side', positiveInteger('--size'), 128)
    .option('--batch <n>', 'images', positiveInteger('--batch'), 64)
    .option('--repeat <n>', 'rounds', positiveInteger('--repeat'), 3)
    .option('--keep', 'keep the generated files', false)
    .parse(argv, { from: 'user' })
    .opts<{ dir: string; size: number; batch: number; repeat: number; keep: boolean }>();
}

const log = (line: string) => process.stderr.write(`${line}\n`);

const timed = (args: string[]) => runProcess(process.execPath, args).seconds;

function main(): void {
  const o = parse(process.argv.slice(2));
  fs.mkdirSync(o.dir, { recursive: true });
  const plain = path.join(o.dir, 'resnet18.onnx');
  const wn = path.join(o.dir, 'resnet18_wn.onnx');
  const data = path.join(o.dir, 'images.npy');
  const out = path.join(o.dir, 'resnet18_init.onnx');
  saveModelFile(resnet18(), plain);
  timed([CLI, 'convert', plain, '-o', wn]);
  const random = seededRandom(64);
  const count = o.batch * 3 * o.size * o.size;
  fs.writeFileSync(data, Buffer.from(dump(Float32Array.from({ length: count }, () => random() * 2 - 1), [o.batch, 3, o.size, o.size])));
  log(`ResNet-18 (21 conv/fc layers), ${(fs.statSync(wn).size / 1e6).toFixed(1)} MB; batch ${o.batch} x 3 x ${o.size} x ${o.size}`);

  const jobs = [
    { label: 'forward pass (plain model)', args: [FORWARD, plain, data], runs: [] as number[] },
    { label: 'forward pass (WN model)', args: [FORWARD, wn, data], runs: [] as number[] },
    { label: '`wn-onnx init` (one pass)', args: [CLI, 'init', wn, '--data', data, '--batch-size', String(o.batch), '-o', out], runs: [] as number[] },
    { label: '`wn-onnx init --per-layer` (one run per layer)', args: [CLI, 'init', wn, '--data', data, '--batch-size', String(o.batch), '--per-layer', '-o', out], runs: [] as number[] },
  ];
  for (let round = 0; round <= o.repeat; round++) {
    for (const job of jobs) {
      const s = timed(job.args);
      log(`  ${job.label} ${round ? `#${round}` : 'warm-up'}: ${s.toFixed(2)} s`);
      if (round) job.runs.push(s);
    }
  }
  const best = jobs.map((j) => Math.min(...j.runs));
  const date = new Date().toISOString().slice(0, 10);
  console.log([
    `### Init benchmark (${date})`, '',
    `ResNet-18 layout, weight-normalized, ${o.batch} images of 3x${o.size}x${o.size}; ${os.cpus()[0]?.model?.trim()}, nproc ${os.availableParallelism()}, Node ${process.version}, onnxruntime-node CPU. Each row a process of its own, end to end; best of ${o.repeat}.`, '',
    '| Operation | Wall time (best) | All runs | vs forward pass (WN model) |', '|---|---|---|---|',
    ...jobs.map((j, i) => `| ${j.label} | ${best[i].toFixed(2)} s | ${j.runs.map((r) => r.toFixed(2)).join(', ')} | ${(best[i] / best[1]).toFixed(2)}x |`),
  ].join('\n'));
  if (!o.keep) fs.rmSync(o.dir, { recursive: true, force: true });
}

main();
