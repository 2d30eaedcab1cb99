/** The trainer's Convs on ONNX Runtime's NCHWc kernels: the same steps as the plain step graph, within float rounding. */
import Long from 'long';
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { AttributeValue } from '../src/ir/attributes';
import type { Model } from '../src/ir/model';
import { nchwcBlockSize, NCHWC_DOMAIN } from '../src/runtime/nchwc';
import { probeValueTypes } from '../src/runtime/value-probe';
import { compileTrainingGraph } from '../src/train/step-graph';
import { lowerToNchwc } from '../src/train/nchwc';
import { openLowered, Trainer } from '../src/train/trainer';
import { Session } from '../src/runtime/session';
import { encodeModel } from '../src/onnx/codec';
import { seededNormal } from '../src/tensor/random';
import { assertClose, randomTensor, runtime } from './support';

interface Case {
  name: string;
  /** Input channels, first and second Conv's filters. */
  channels: [number, number, number];
  first: Record<string, AttributeValue>;
  kernel: number;
  batch: number;
  /** Whether conv2's input gradient is a Conv (enough values per weight to reverse the kernel) or a ConvTranspose. */
  gradConv: boolean;
  bias: boolean;
  relu: boolean;
  /** Spatial axes (default 2: SIDE × SIDE; 1: LENGTH, whose Convs stay on the generic kernels). */
  axes?: 1 | 2;
}

const SIDE = 16;
const LENGTH = 64;
const cases: Case[] = [
  {
    name: 'one input channel (NCHW input), filters padded to a block, Relu fused', channels: [1, 16, 24], first: { pads: [1, 1, 1, 1] }, kernel: 3,
    batch: 16, gradConv: true, bias: true, relu: true,
  },
  {
    name: '12 and 20 channels (padded), dilation 2, asymmetric pads, no bias, no Relu', channels: [12, 20, 8],
    first: { dilations: [2, 2], pads: [2, 1, 1, 2] }, kernel: 3, batch: 16, gradConv: true, bias: false, relu: false,
  },
  {
    name: 'RGB through a 1×1 kernel of stride 2', channels: [3, 16, 16], first: { strides: [2, 2] }, kernel: 1,
    batch: 16, gradConv: false, bias: true, relu: true,
  },
];

const spatial = (c: Case) => (c.axes === 1 ? [LENGTH] : [SIDE, SIDE]);
const square = (c: Case, k: number) => spatial(c).map(() => k);

/** Conv → (Relu) → Conv 3×3 → Relu → MaxPool 2×2 → GlobalAveragePool → Gemm: the second Conv's input gradient is a Conv too. */
function model(c: Case): Model {
  const [cin, c1, c2] = c.channels;
  const nodes = [makeNode('Conv', c.bias ? ['x', 'w1', 'b1'] : ['x', 'w1'], ['t1'], { kernel_shape: square(c, c.kernel), ...c.first }, 'conv1')];
  if (c.relu) nodes.push(makeNode('Relu', ['t1'], ['y1'], {}, 'relu1'));
  nodes.push(
    makeNode('Conv', [c.relu ? 'y1' : 't1', 'w2', 'b2'], ['t2'], { kernel_shape: square(c, 3), pads: [...square(c, 1), ...square(c, 1)] }, 'conv2'),
    makeNode('Relu', ['t2'], ['y2'], {}, 'relu2'),
    makeNode('MaxPool', ['y2'], ['maxima'], { kernel_shape: square(c, 2), strides: square(c, 2) }, 'pool'),
    makeNode('GlobalAveragePool', ['maxima'], ['pooled']),
    makeNode('Flatten', ['pooled'], ['flat']),
    makeNode('Gemm', ['flat', 'fc', 'fc_b'], ['logits'], { transB: 1 }),
  );
  const initializers = [
    randomTensor('w1', [c1, cin, ...square(c, c.kernel)], 1), randomTensor('w2', [c2, c1, ...square(c, 3)], 2, DataType.FLOAT, 0.2),
    randomTensor('b2', [c2], 3), randomTensor('fc', [3, c2], 4), randomTensor('fc_b', [3], 5),
  ];
  if (c.bias) initializers.push(randomTensor('b1', [c1], 6));
  return makeModel({
    opset: 17,
    inputs: [tensorInfo('x', DataType.FLOAT, ['N', cin, ...spatial(c)])],
    outputs: [tensorInfo('logits', DataType.FLOAT, ['N', 3])],
    nodes,
    initializers,
  });
}

function batch(c: Case, rows: number, seed: number) {
  const dims = [rows, c.channels[0], ...spatial(c)];
  const normal = seededNormal(seed);
  return { x: new runtime.Tensor('float32', Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, normal), dims) };
}

interface PoolCase {
  name: string;
  channels: number;
  side: number;
  /** Filters of a Conv (its weight an input, as a training step computes it) before the pool; 0: the pool reads the input. */
  filters: number;
  relu: boolean;
  pool: Record<string, AttributeValue>;
  lowered: boolean;
}

const poolCases: PoolCase[] = [
  { name: '2×2 after a Conv and Relu', channels: 1, side: 12, filters: 16, relu: true, pool: { kernel_shape: [2, 2], strides: [2, 2] }, lowered: true },
  {
    name: '3×3 after a Conv of 12 filters (channels padded to a block)', channels: 4, side: 12, filters: 12, relu: false,
    pool: { kernel_shape: [3, 3], strides: [3, 3] }, lowered: true,
  },
  {
    name: '2×1 on a model input of 9 rows (reordered, the last row left out)', channels: 8, side: 9, filters: 0, relu: false,
    pool: { kernel_shape: [2, 1], strides: [2, 1] }, lowered: true,
  },
  {
    name: 'overlapping 3×3 windows of stride 2 (left as they are)', channels: 1, side: 12, filters: 16, relu: true,
    pool: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, lowered: false,
  },
];

/** (Conv → (Relu) →) MaxPool, its maxima and Indices both model outputs. */
function poolModel(p: PoolCase): Model {
  const nodes = [];
  let pooled = 'x';
  if (p.filters) {
    nodes.push(makeNode('Conv', ['x', 'w', 'b'], ['t'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'));
    pooled = p.relu ? 'y' : 't';
    if (p.relu) nodes.push(makeNode('Relu', ['t'], ['y'], {}, 'relu'));
  }
  nodes.push(makeNode('MaxPool', [pooled], ['maxima', 'indices'], p.pool, 'pool'));
  const inputs = [tensorInfo('x', DataType.FLOAT, ['N', p.channels, p.side, p.side])];
  if (p.filters) inputs.push(tensorInfo('w', DataType.FLOAT, [p.filters, p.channels, 3, 3]));
  return makeModel({
    opset: 17,
    inputs,
    outputs: [tensorInfo('maxima', DataType.FLOAT, ['N', 'C', 'H', 'W']), tensorInfo('indices', DataType.INT64, ['N', 'C', 'H', 'W'])],
    nodes,
    initializers: p.filters ? [randomTensor('b', [p.filters], 7, DataType.FLOAT, 0.3)] : [],
  });
}

/** Values on a grid of 0.5 with a blank top half: ties within windows, at zero and above. */
function poolFeeds(p: PoolCase, rows: number) {
  const normal = seededNormal(rows);
  const dims = [rows, p.channels, p.side, p.side];
  const x = Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, i) => {
    const row = Math.floor(i / p.side) % p.side;
    return row < p.side / 2 ? 0 : Math.round(normal() * 2) / 2;
  });
  const feeds: Record<string, InstanceType<typeof runtime.Tensor>> = { x: new runtime.Tensor('float32', x, dims) };
  if (p.filters) {
    const w = Float32Array.from({ length: p.filters * p.channels * 9 }, () => Math.round(normal() * 2) / 4);
    feeds.w = new runtime.Tensor('float32', w, [p.filters, p.channels, 3, 3]);
  }
  return feeds;
}

/** One run, no fallback: a lowered model ONNX Runtime refuses fails the test. */
async function runOnce(m: Model, feeds: Record<string, InstanceType<typeof runtime.Tensor>>) {
  const session = await Session.open(runtime, m, {});
  const outputs = await session.run(feeds);
  await session.release();
  return outputs;
}

describe('Convs on ONNX Runtime NCHWc kernels in the trainer', () => {
  let block = 0;
  before(async () => {
    block = await nchwcBlockSize(runtime);
  });

  it('asks ONNX Runtime for its block size (this machine has the kernels), none for other providers', async () => {
    assert.ok([8, 16].includes(block), `block size ${block}`);
    assert.equal(await nchwcBlockSize(runtime, 'webgpu'), 0);
  });

  it('opens the plain graph where ONNX Runtime refuses the lowered one', async () => {
    const c = cases[0];
    const m = model(c);
    const broken = model(c);
    broken.graph.proto.node![0] = { ...broken.graph.proto.node![0], op_type: 'NoSuchConv', domain: NCHWC_DOMAIN };
    broken.proto.opset_import!.push({ domain: NCHWC_DOMAIN, version: Long.fromNumber(1) });
    const session = await openLowered(runtime, broken, m, {});
    const { logits } = await session.run(batch(c, 2, 5));
    assert.deepEqual(logits.dims, [2, 3]);
    await session.release();
  });

  it('leaves 1-D Convs (a vocoder\'s) on the generic kernels', async () => {
    const c: Case = {
      name: '1-D', channels: [16, 32, 16], first: { dilations: [3], pads: [9, 9] }, kernel: 7, batch: 4, gradConv: true, bias: true, relu: false, axes: 1,
    };
    const m = model(c);
    const types = await probeValueTypes(runtime, m, [batch(c, 2, 1), batch(c, 3, 2)]);
    const graph = compileTrainingGraph(m, { types });
    assert.equal(graph.model.graph.nodes.filter((n) => n.op_type === 'Conv').length, 3);
    assert.equal(lowerToNchwc(graph.model, types, block), graph.model);
  });

  for (const p of poolCases) {
    it(`MaxPool with Indices, ${p.name}: ONNX Runtime's own maxima and Indices, ties included`, async () => {
      const m = poolModel(p);
      const feeds = poolFeeds(p, 6);
      const types = await probeValueTypes(runtime, m, [poolFeeds(p, 2), poolFeeds(p, 3)]);
      const lowered = lowerToNchwc(m, types, block);
      const nchwcPools = lowered.graph.nodes.filter((n) => n.op_type === 'MaxPool' && n.domain === NCHWC_DOMAIN).length;
      assert.equal(nchwcPools, p.lowered ? 2 : 0);
      const [expected, actual] = [await runOnce(m, feeds), await runOnce(lowered, feeds)];
      // the NCHWc MaxPool may keep 0 where ONNX Runtime's NCHW one keeps -0 (a tie): equal as numbers
      assertClose(actual.maxima.data as Float32Array, expected.maxima.data as Float32Array, 0, 0, 'maxima');
      assert.deepEqual(actual.indices.data, expected.indices.data);
    });
  }

  for (const c of cases) {
    it(`${c.name}: its Convs are lowered`, async () => {
      const m = model(c);
      const types = await probeValueTypes(runtime, m, [batch(c, 2, 1), batch(c, 3, 2)]);
      const graph = compileTrainingGraph(m, { types });
      const before = encodeModel(graph.model.proto);
      const lowered = lowerToNchwc(graph.model, types, block);
      assert.deepEqual(encodeModel(graph.model.proto), before, 'the step graph itself is left as it was');
      const convs = (g: Model, domain: string) => g.graph.nodes.filter((n) => n.op_type === 'Conv' && (n.domain ?? '') === domain).length;
      const expected = c.gradConv ? 3 : 2;
      assert.equal(convs(graph.model, ''), expected, 'the step graph: two Convs forward, one for conv2\'s input gradient where it is one');
      assert.equal(convs(lowered, NCHWC_DOMAIN), expected);
      assert.equal(convs(lowered, ''), 0);
      assert.equal(convs(graph.model, NCHWC_DOMAIN), 0, 'the compiled (exported) graph stays plain ONNX');
      const fused = lowered.graph.nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.attribute?.some((a) => a.name === 'activation'));
      assert.equal(fused.length, c.relu ? 2 : 1, 'a Relu that alone reads a Conv is fused into it');
      const pools = (g: Model, domain: string) => g.graph.nodes.filter((n) => n.op_type === 'MaxPool' && (n.domain ?? '') === domain).length;
      assert.equal(pools(graph.model, ''), 1);
      assert.equal(pools(lowered, ''), 0, 'the MaxPool with Indices is lowered');
      assert.equal(pools(lowered, NCHWC_DOMAIN), 2, 'its maxima, and its first maxima\'s priorities');
      // conv1's NCHWc output goes into conv2 as it is where its channels fill whole blocks
      const conv2 = lowered.graph.nodes.find((n) => n.op_type === 'Conv' && n.name!.startsWith('conv2/'))!;
      const wholeBlocks = c.channels[1] % block === 0;
      assert.equal(lowered.graph.producer(conv2.input![0])?.op_type, wholeBlocks ? 'Conv' : 'ReorderInput');
    });

    it(`${c.name}: three SGD steps and a validation equal the plain graph's`, async () => {
      const m = model(c);
      const probe = [batch(c, 2, 1)];
      const options = { runtime, optimizer: { kind: 'sgd' as const, momentum: 0.9 } };
      const [nchwc, plain] = [await Trainer.create(m, probe, options), await Trainer.create(m, probe, { ...options, nchwc: false })];
      const labels = (rows: number) => Array.from({ length: rows }, (_, i) => i % 3);
      for (let step = 0; step < 3; step++) {
        const feeds = batch(c, c.batch, 10 + step);
        const oneHot = nchwc.targetTensor(labels(c.batch));
        const [a, b] = [await nchwc.step(feeds, oneHot, { lr: 0.05 }), await plain.step(feeds, oneHot, { lr: 0.05 })];
        assertClose([a.loss], [b.loss], 1e-5, 1e-6, `loss at step ${step + 1}`);
        assertClose(a.output.data as Float32Array, b.output.data as Float32Array, 1e-4, 1e-5, `logits at step ${step + 1}`);
      }
      const [saved, expected] = [nchwc.saved(), plain.saved()];
      for (const [i, t] of saved.entries()) assertClose(t.data, expected[i].data, 1e-4, 1e-5, t.name);
      const check = batch(c, 5, 99);
      const oneHot = nchwc.targetTensor(labels(5));
      const [ea, eb] = [await nchwc.evaluate(check, oneHot), await plain.evaluate(check, oneHot)];
      assertClose(ea.output.data as Float32Array, eb.output.data as Float32Array, 1e-4, 1e-5, 'validation logits');
      await Promise.all([nchwc.release(), plain.release()]);
    });
  }
});
