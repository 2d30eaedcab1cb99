/**
 * Training on the WebGPU execution provider. Its kernels lack MaxPool's Indices output and take a
 * Split of at most 7 outputs, so the step graph compiled for webgpu lowers those differently:
 * checked to give the cpu step graph's values bit for bit (both run on the CPU), then the
 * bundled CNN trained on onnxruntime-node's WebGPU EP (SwiftShader where there is no GPU)
 * against the cpu EP.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import type { AttributeValue } from '../src/ir/attributes';
import { buildBackward } from '../src/autodiff/backward';
import { CPU_LOWERING, type Lowering } from '../src/autodiff/rule';
import { compileTrainingGraph, loweringFor } from '../src/train/step-graph';
import { probeValueTypes } from '../src/runtime/value-probe';
import { runModel } from '../src/runtime/session';
import { seededRandom } from '../src/tensor/random';
import { toTensor } from '../src/runtime/tensors';
import { elementCount, floatTensor, readFloats } from '../src/tensor/values';
import { loadModelFile } from '../src/node/model-file';
import { convert } from '../transforms/weight-norm';
import { root, webgpuEnv } from './helpers/cli';
import { runtime } from './support';

const WEBGPU: Lowering = loweringFor('webgpu');
const cnnFile = path.join(root, 'models', 'cnn.onnx');

/** Values from a few levels, so windows hold ties (as after Relu): the first maximum must win in both lowerings. */
function tiedValues(count: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(random() * 4) * 0.5 - 0.5);
}

/** ∂L/∂x of a lone MaxPool (L = Σ y·r) under a lowering, on the CPU. */
async function maxPoolGrad(x: number[], attributes: Record<string, AttributeValue>, opset: number, lowering: Lowering): Promise<Float32Array> {
  const model = makeModel({
    opset, inputs: [tensorInfo('x', DataType.FLOAT, x)], outputs: [{ name: 'y' }], nodes: [makeNode('MaxPool', ['x'], ['y'], attributes)], initializers: [],
  });
  const feeds = { x: toTensor(runtime, 'float32', tiedValues(elementCount(x), 7), x) };
  const types = await probeValueTypes(runtime, model, [feeds]);
  const yDims = types.get('y')!.dims as number[];
  const random = seededRandom(11);
  const r = Float64Array.from({ length: elementCount(yDims) }, () => random() * 2 - 1);
  const backward = buildBackward(model, { seeds: new Map([['y', 'dL_dy']]), wrt: ['x'], types, lowering });
  const gradModel = makeModel({
    opset, inputs: model.graph.inputs, outputs: [{ name: backward.grads.get('x')! }],
    nodes: [...model.graph.nodes, ...backward.nodes], initializers: [...backward.initializers, floatTensor('dL_dy', DataType.FLOAT, yDims, r)],
  });
  const outputs = await runModel(runtime, gradModel, feeds);
  return outputs[backward.grads.get('x')!].data as Float32Array;
}

/** Every output of the step graph compiled for `ep`, one adam step run on the CPU from the model's own values. */
async function stepOnCpu(model: Model, ep: 'cpu' | 'webgpu', feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  const probe = { input: feeds.input };
  const types = await probeValueTypes(runtime, model, [probe, { input: new runtime.Tensor('float32', feeds.input.data.slice(0, 784 * 3) as Float32Array, [3, 1, 28, 28]) }]);
  const graph = compileTrainingGraph(model, { types, optimizer: { kind: 'adam' }, ep });
  const s = graph.scalars;
  const scalar = (value: number) => new runtime.Tensor('float32', Float32Array.of(value), []);
  const stepFeeds: Record<string, ort.Tensor> = {
    input: feeds.input, [graph.target]: feeds.target,
    [s.stepSize]: scalar(1e-3 / 0.1), [s.beta1!]: scalar(0.9), [s.oneMinusBeta1!]: scalar(0.1), [s.biasCorrection2Sqrt!]: scalar(Math.sqrt(0.001)),
  };
  for (const c of graph.carried) {
    const values = c.initializer ? readFloats(model.graph.initializer(c.initializer)!) : new Float32Array(elementCount(c.dims));
    stepFeeds[c.input] = new runtime.Tensor('float32', Float32Array.from(values), c.dims);
  }
  const outputs = await runModel(runtime, graph.model, stepFeeds);
  return graph.model.graph.outputs.map((o) => outputs[o.name!].data as Float32Array);
}

/** Child process: the converted CNN's data-dependent init, then 3 adam steps (batch 16), on one EP; prints JSON. */
const TRAIN_ON_EP = `
const { convert, dataDependentInit, loadModelFile, nodeRuntime, Trainer } = require(${JSON.stringify(path.join(root, 'dist', 'src', 'node'))});
const { seededRandom } = require(${JSON.stringify(path.join(root, 'dist', 'src', 'tensor', 'random'))});
const { readFloats } = require(${JSON.stringify(path.join(root, 'dist', 'src', 'tensor', 'values'))});
(async () => {
  const ep = process.argv[1];
  const runtime = nodeRuntime();
  const random = seededRandom(1);
  const images = (rows) => new runtime.Tensor('float32', Float32Array.from({ length: rows * 784 }, random), [rows, 1, 28, 28]);
  const { model } = loadModelFile(${JSON.stringify(cnnFile)});
  convert(model);
  const initialized = (await dataDependentInit(model, { input: images(16) }, { ep })).model;
  const trainer = await Trainer.create(model, [{ input: images(2) }], { runtime, ep, loss: 'cross-entropy', optimizer: { kind: 'adam' } });
  const losses = [];
  for (let step = 0; step < 3; step++) {
    const labels = Array.from({ length: 16 }, () => Math.floor(random() * 10));
    losses.push((await trainer.step({ input: images(16) }, trainer.targetTensor(labels), { lr: 1e-3 })).loss);
  }
  const values = (m) => Object.fromEntries(m.graph.initializers.filter((t) => t.data_type === 1).map((t) => [t.name, Array.from(readFloats(t))]));
  process.stdout.write(JSON.stringify({ init: values(initialized), losses, trained: values(trainer.trainedModel()) }));
  await trainer.release();
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

interface EpRun { init: Record<string, number[]>; losses: number[]; trained: Record<string, number[]>; seconds: number }

function trainOn(ep: 'cpu' | 'webgpu'): EpRun {
  const started = Date.now();
  const result = spawnSync(process.execPath, ['-e', TRAIN_ON_EP, ep], { env: { ...process.env, ...webgpuEnv() }, maxBuffer: 1 << 28, timeout: 240_000 });
  assert.equal(result.status, 0, `${ep}: ${result.stderr}`);
  return { ...JSON.parse(result.stdout.toString()), seconds: (Date.now() - started) / 1000 };
}

/** |a − b| ≤ atol + rtol·|b| everywhere; the worst excess named. */
function assertClose(what: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]), `${what}[${i}]: webgpu ${a[i]}, cpu ${b[i]}`);
  }
}

describe('training on the WebGPU execution provider', () => {
  describe('the lowerings for WebGPU give the CPU lowerings\' values bit for bit', () => {
    const cases: { name: string; x: number[]; attributes: Record<string, AttributeValue>; opset: number }[] = [
      { name: '2x2 stride 2 (MaxUnpool on the CPU)', x: [2, 3, 6, 8], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, opset: 17 },
      { name: '2x2 stride 2 pads, remainder, storage_order 1', x: [2, 2, 5, 7], attributes: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 0, 0, 0], storage_order: 1 }, opset: 13 },
      { name: '3x3 stride 2 ceil_mode pads (overlapping)', x: [1, 3, 6, 7], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 }, opset: 17 },
      { name: '3x3 stride 1 SAME_UPPER (overlapping)', x: [2, 2, 5, 6], attributes: { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' }, opset: 16 },
      { name: '2x2 dilation 2 stride 3', x: [1, 2, 7, 8], attributes: { kernel_shape: [2, 2], dilations: [2, 2], strides: [3, 3] }, opset: 12 },
      { name: '2x2 stride 2 pads at opset 10 (Scatter)', x: [2, 2, 5, 5], attributes: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 10 },
      { name: '1-D 3 stride 2 ceil_mode', x: [2, 2, 8], attributes: { kernel_shape: [3], strides: [2], ceil_mode: 1 }, opset: 16 },
      { name: '3-D 2x2x2 stride 2', x: [1, 2, 4, 4, 6], attributes: { kernel_shape: [2, 2, 2], strides: [2, 2, 2] }, opset: 17 },
    ];
    for (const c of cases) {
      it(`MaxPool ${c.name}, windows with ties: ArgMax over gathered windows = Indices`, async () => {
        const [indices, argmax] = [await maxPoolGrad(c.x, c.attributes, c.opset, CPU_LOWERING), await maxPoolGrad(c.x, c.attributes, c.opset, WEBGPU)];
        assert.deepEqual(argmax, indices);
        assert.ok(indices.some((v) => v !== 0));
      });
    }

    it('the converted CNN\'s step graph for webgpu (no Indices, Splits of ≤ 7 outputs) equals the cpu one', async () => {
      const { model } = loadModelFile(cnnFile);
      convert(model);
      const random = seededRandom(3);
      const input = new runtime.Tensor('float32', Float32Array.from({ length: 16 * 784 }, random), [16, 1, 28, 28]);
      const target = new Float32Array(16 * 10);
      for (let r = 0; r < 16; r++) target[r * 10 + (r % 10)] = 1;
      const feeds = { input, target: new runtime.Tensor('float32', target, [16, 10]) };
      const [cpu, webgpu] = [await stepOnCpu(model, 'cpu', feeds), await stepOnCpu(model, 'webgpu', feeds)];
      assert.equal(webgpu.length, cpu.length);
      cpu.forEach((values, i) => assert.deepEqual(webgpu[i], values, `output ${i}`));
    });
  });

  it('init and 3 adam steps of the converted CNN (batch 16) on onnxruntime-node\'s webgpu EP equal the cpu EP\'s', function () {
    this.timeout(300_000);
    const cpu = trainOn('cpu');
    const webgpu = trainOn('webgpu');
    console.log(`      cpu ${cpu.seconds.toFixed(1)} s, webgpu ${webgpu.seconds.toFixed(1)} s; losses cpu ${cpu.losses.map((l) => l.toFixed(6))}, webgpu ${webgpu.losses.map((l) => l.toFixed(6))}`);
    // init is a forward pass and a few reductions: float32 sums in another order differ by a few ulps
    for (const [name, values] of Object.entries(cpu.init)) assertClose(`init ${name}`, webgpu.init[name], values, 1e-5, 1e-5);
    // training adds the backward pass and Adam, whose first steps move each value by about lr·sign(gradient): the
    // float32 rounding of WebGPU's kernels (other summation orders) stays far below 1e-3 relative, 1e-4 absolute
    assertClose('losses', webgpu.losses, cpu.losses, 1e-3, 1e-4);
    assert.ok(Object.keys(cpu.trained).length >= 12);
    for (const [name, values] of Object.entries(cpu.trained)) assertClose(`trained ${name}`, webgpu.trained[name], values, 1e-3, 1e-4);
  });
});
