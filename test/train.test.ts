/**
 * The compiled training step, checked as a whole: its parameter update with SGD at lr = 1 is
 * −∇loss, compared with central finite differences of the step graph's own loss (lr = 0) for
 * models mixing many rules (convolutions, training-mode BatchNormalization, Dropout with a fixed
 * mask, pooling, weight norm); the weight-norm gradients match their closed form; parameters
 * are chosen as documented; failures name the op and node.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { convert } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { compileTrainingGraph, type TrainingGraph } from '../src/train/step-graph';
import { probeValueTypes } from '../src/runtime/value-probe';
import { seededRandom } from '../src/tensor/random';
import { toTensor } from '../src/runtime/tensors';
import { runModel, withSession } from '../src/runtime/session';
import { loadModelFile } from '../src/node/model-file';
import { elementCount, readFloats, floatTensor, int64Tensor } from '../src/tensor/values';
import { Trainer } from '../src/train/trainer';
import { scheduledSettings } from '../src/train/fit';
import { randomTensor, runtime } from './support';

const F = DataType.FLOAT;
const root = path.resolve(__dirname, '..', '..');

function uniform(dims: number[], seed: number): ort.Tensor {
  const random = seededRandom(seed);
  return toTensor(runtime, 'float32', Float64Array.from({ length: elementCount(dims) }, () => random() * 2 - 1), dims);
}

function oneHot(labels: number[], classes: number): ort.Tensor {
  const data = new Float32Array(labels.length * classes);
  labels.forEach((l, r) => { data[r * classes + l] = 1; });
  return new runtime.Tensor('float32', data, [labels.length, classes]);
}

async function compile(model: Model, batch: Record<string, ort.Tensor>, options: Partial<Parameters<typeof compileTrainingGraph>[1]> = {}): Promise<TrainingGraph> {
  const types = await probeValueTypes(runtime, model, [batch]);
  return compileTrainingGraph(model, { types, optimizer: { kind: 'sgd' }, ...options });
}

/**
 * Checks the step graph's gradient of every parameter against finite differences of its loss.
 * `extra` feeds the remaining inputs (targets, dropout masks).
 */
async function checkStepGradients(model: Model, batch: Record<string, ort.Tensor>, target: ort.Tensor, options: Partial<Parameters<typeof compileTrainingGraph>[1]> = {}, masks: Record<string, ort.Tensor> = {}): Promise<TrainingGraph> {
  const graph = await compile(model, batch, options);
  const params = new Map(graph.carried.map((c) => [c.input, c.initializer ? Float32Array.from(readFloats(model.graph.initializer(c.initializer)!)) : new Float32Array(elementCount(c.dims))]));
  const feeds = (lr: number, name?: string, at?: number, delta?: number) => {
    const f: Record<string, ort.Tensor> = { ...batch, ...masks, [graph.target]: target, [graph.scalars.stepSize]: new runtime.Tensor('float32', Float32Array.of(lr), []) };
    for (const c of graph.carried) {
      const values = Float32Array.from(params.get(c.input)!);
      if (c.input === name) values[at!] += delta!;
      f[c.input] = new runtime.Tensor('float32', values, c.dims);
    }
    return f;
  };
  await withSession(runtime, graph.model, {}, async (session) => {
    const stepped = await session.run(feeds(1));
    const loss = async (name: string, at: number, delta: number) => Number((await session.run(feeds(0, name, at, delta)))[graph.loss].data[0]);
    const random = seededRandom(11);
    for (const c of graph.carried.filter((p) => graph.parameters.includes(p.input))) {
      const before = params.get(c.input)!;
      const after = stepped[c.output].data as Float32Array;
      const probes = Array.from({ length: Math.min(6, before.length) }, () => Math.floor(random() * before.length));
      // float32 (ONNX Runtime's Conv has no float64 kernel); a step small enough that few ReLU/MaxPool
      // kinks fall inside it, a tolerance that still fails any wrong rule (wrong terms are O(gradient))
      const h = 3e-3;
      const numeric: number[] = [];
      for (const at of probes) numeric.push(((await loss(c.input, at, h)) - (await loss(c.input, at, -h))) / (2 * h));
      const scale = Math.max(1e-3, ...numeric.map(Math.abs));
      probes.forEach((at, k) => {
        const analytic = before[at] - after[at];
        assert.ok(Math.abs(analytic - numeric[k]) <= 5e-2 * scale, `∂loss/∂${c.input}[${at}]: step graph ${analytic}, finite differences ${numeric[k]}`);
      });
    }
  });
  return graph;
}

/** Conv → BatchNormalization → Relu → MaxPool → Conv → GlobalAveragePool → Flatten → Dropout → Gemm. */
function convBnModel(opset: number): Model {
  return makeModel({
    opset,
    inputs: [tensorInfo('x', F, ['batch', 2, 8, 8])],
    outputs: [tensorInfo('logits', F, ['batch', 3])],
    nodes: [
      makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      makeNode('BatchNormalization', ['c1', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['n1'], { epsilon: { float: 1e-5 } }),
      makeNode('Relu', ['n1'], ['r1']),
      makeNode('MaxPool', ['r1'], ['p1'], { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('Conv', ['p1', 'w2'], ['c2'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      makeNode('GlobalAveragePool', ['c2'], ['g2']),
      makeNode('Flatten', ['g2'], ['f2']),
      makeNode('Dropout', opset >= 12 ? ['f2', 'ratio'] : ['f2'], ['d2'], opset >= 12 ? {} : { ratio: { float: 0.25 } }),
      makeNode('Gemm', ['d2', 'w3', 'b3'], ['logits'], { transB: 1 }),
    ],
    initializers: [
      randomTensor('w1', [4, 2, 3, 3], 1), randomTensor('b1', [4], 2), randomTensor('bn_scale', [4], 3), randomTensor('bn_bias', [4], 4),
      floatTensor('bn_mean', F, [4], Float32Array.of(0.1, -0.2, 0, 0.3)), floatTensor('bn_var', F, [4], Float32Array.of(1, 2, 0.5, 1.5)),
      randomTensor('w2', [5, 4, 3, 3], 5), randomTensor('w3', [3, 5], 6), randomTensor('b3', [3], 7),
      ...(opset >= 12 ? [floatTensor('ratio', F, [], Float32Array.of(0.25))] : []),
    ],
  });
}

describe('training step graph', () => {
  for (const opset of [11, 15]) {
    it(`gradients of a Conv/BatchNorm (batch statistics)/MaxPool/Dropout/Gemm model equal finite differences (opset ${opset})`, async () => {
      const model = convBnModel(opset);
      const batch = { x: uniform([6, 2, 8, 8], 1) };
      const graph = await compile(model, batch);
      const maxPoolOutputs = (m: Model) => m.graph.nodes.find((n) => n.op_type === 'MaxPool')!.output!.length;
      assert.equal(maxPoolOutputs(model), 1, 'the model keeps its MaxPool as it was');
      assert.equal(maxPoolOutputs(graph.model), 2, 'the step graph\'s MaxPool also computes the Indices its gradient needs');
      const [mask] = graph.dropoutMasks;
      assert.equal(mask.keep, 0.75);
      const maskValues = Float32Array.from({ length: 6 * 5 }, (_, i) => (i % 4 === 0 ? 0 : 1 / 0.75));
      await checkStepGradients(model, batch, oneHot([0, 1, 2, 0, 1, 2], 3), {}, { [mask.input]: new runtime.Tensor('float32', maskValues, [6, 5]) });
      assert.deepEqual(graph.parameters.sort(), ['b1', 'b3', 'bn_bias', 'bn_scale', 'w1', 'w2', 'w3'], 'running statistics and the ratio are not parameters');
      assert.deepEqual(graph.carried.filter((c) => !graph.parameters.includes(c.input)).map((c) => c.input).sort(), ['bn_mean', 'bn_var']);
    });
  }

  it('updates BatchNormalization running statistics as PyTorch does (momentum, unbiased variance)', async () => {
    const model = convBnModel(15);
    const x = uniform([6, 2, 8, 8], 2);
    const graph = await compile(model, { x });
    const trimmed = makeModel({ opset: 15, inputs: model.graph.inputs, outputs: [tensorInfo('c1', F, [6, 4, 8, 8])], nodes: [model.graph.nodes[0]], initializers: [...model.graph.initializers] });
    const c1 = (await runModel(runtime, trimmed, { x }))['c1'].data as Float32Array;
    const feeds: Record<string, ort.Tensor> = { x, [graph.target]: oneHot([0, 1, 2, 0, 1, 2], 3), [graph.scalars.stepSize]: new runtime.Tensor('float32', Float32Array.of(0), []), [graph.dropoutMasks[0].input]: new runtime.Tensor('float32', new Float32Array(30).fill(1), [6, 5]) };
    for (const c of graph.carried) feeds[c.input] = new runtime.Tensor('float32', Float32Array.from(readFloats(model.graph.initializer(c.initializer!)!)), c.dims);
    const out = await runModel(runtime, graph.model, feeds);
    const n = 6 * 64;
    const runningMean = [0.1, -0.2, 0, 0.3];
    const runningVar = [1, 2, 0.5, 1.5];
    for (let ch = 0; ch < 4; ch++) {
      let sum = 0;
      let sq = 0;
      for (let b = 0; b < 6; b++) for (let i = 0; i < 64; i++) { const v = c1[(b * 4 + ch) * 64 + i]; sum += v; sq += v * v; }
      const mean = sum / n;
      const unbiased = (sq - n * mean * mean) / (n - 1);
      const meanOut = graph.carried.find((c) => c.input === 'bn_mean')!.output;
      const varOut = graph.carried.find((c) => c.input === 'bn_var')!.output;
      assert.ok(Math.abs(Number(out[meanOut].data[ch]) - (0.9 * runningMean[ch] + 0.1 * mean)) < 1e-5);
      assert.ok(Math.abs(Number(out[varOut].data[ch]) - (0.9 * runningVar[ch] + 0.1 * unbiased)) < 1e-4);
    }
  });

  it('gradients through the weight-normalized bundled CNN equal finite differences, and match the closed form', async () => {
    const plain = loadModelFile(path.join(root, 'models', 'cnn.onnx')).model;
    const wn = loadModelFile(path.join(root, 'models', 'cnn.onnx')).model;
    convert(wn);
    const batch = { [wn.graph.inputs[0].name!]: uniform([4, 1, 28, 28], 3) };
    const target = oneHot([1, 7, 3, 0], 10);
    await checkStepGradients(wn, batch, target);

    // closed form: ∇g = ∇W·v/‖v‖ and ∇v = (g/‖v‖)∇W − (g∇g/‖v‖²)v, with ∇W from the plain model
    const gradsOf = async (model: Model) => {
      const graph = await compile(model, batch);
      const feeds: Record<string, ort.Tensor> = { ...batch, [graph.target]: target, [graph.scalars.stepSize]: new runtime.Tensor('float32', Float32Array.of(1), []) };
      for (const c of graph.carried) feeds[c.input] = new runtime.Tensor('float32', Float32Array.from(readFloats(model.graph.initializer(c.input)!)), c.dims);
      const out = await runModel(runtime, graph.model, feeds);
      return new Map(graph.carried.map((c) => [c.input, Float64Array.from(feeds[c.input].data as Float32Array, (p, i) => p - Number(out[c.output].data[i]))]));
    };
    const plainGrads = await gradsOf(plain);
    const wnGrads = await gradsOf(wn);
    const weight = 'conv2.weight';
    const W = plainGrads.get(weight)!;
    const v = readFloats(wn.graph.initializer(`${weight}_v`)!);
    const g = readFloats(wn.graph.initializer(`${weight}_g`)!);
    const rows = g.length;
    const size = v.length / rows;
    for (let r = 0; r < rows; r++) {
      let norm = 0;
      let dot = 0;
      for (let k = 0; k < size; k++) { norm += v[r * size + k] ** 2; dot += W[r * size + k] * v[r * size + k]; }
      norm = Math.sqrt(norm);
      const gradG = dot / norm;
      assert.ok(Math.abs(wnGrads.get(`${weight}_g`)![r] - gradG) <= 1e-4 * Math.max(1, Math.abs(gradG)), `∇g[${r}]`);
      for (let k = 0; k < size; k++) {
        const expected = (g[r] / norm) * W[r * size + k] - (g[r] * gradG / norm ** 2) * v[r * size + k];
        assert.ok(Math.abs(wnGrads.get(`${weight}_v`)![r * size + k] - expected) <= 1e-4 * Math.max(1e-2, Math.abs(expected)) + 1e-6, `∇v[${r},${k}]`);
      }
    }
  });

  it('trains only floating-point tensors with element axes that feed differentiable inputs; --freeze fixes more', async () => {
    const wn = loadModelFile(path.join(root, 'models', 'mlp.onnx')).model;
    convert(wn);
    const batch = { [wn.graph.inputs[0].name!]: uniform([3, 784], 4) };
    const graph = await compile(wn, batch, { freeze: /^fc1\./ });
    assert.deepEqual(graph.frozen.sort(), ['fc1.bias', 'fc1.weight_g', 'fc1.weight_v']);
    assert.ok(graph.parameters.includes('fc2.weight_g') && graph.parameters.includes('fc3.bias'));
    assert.ok(graph.parameters.every((p) => !p.includes('/wn/')), 'the pass\'s own constants never train');
  });

  it('refuses an op without a gradient rule, naming the op and the node', async () => {
    const model = makeModel({
      opset: 13,
      inputs: [tensorInfo('x', F, ['batch', 4])],
      outputs: [tensorInfo('y', F, ['batch', 4])],
      nodes: [makeNode('MatMul', ['x', 'w'], ['h']), makeNode('Round', ['h'], ['r'], {}, 'rounding'), makeNode('Add', ['r', 'x'], ['y'])],
      initializers: [randomTensor('w', [4, 4], 1)],
    });
    await assert.rejects(compile(model, { x: uniform([2, 4], 1) }, { loss: 'mse' }), /no gradient rule for op Round \(node "rounding"\)/);
  });

  it('refuses cross-entropy on an output that is not [batch, classes]', async () => {
    const model = makeModel({
      opset: 13, inputs: [tensorInfo('x', F, ['batch', 4])], outputs: [tensorInfo('y', F, ['batch', 2, 2])],
      nodes: [makeNode('MatMul', ['x', 'w'], ['h']), makeNode('Reshape', ['h', 'shape'], ['y'])],
      initializers: [randomTensor('w', [4, 4], 1), int64Tensor('shape', [-1, 2, 2])],
    });
    await assert.rejects(compile(model, { x: uniform([2, 4], 1) }), /cross-entropy needs the output "y" to be \[batch, classes\]/);
  });

  it('draws the same dropout masks for the same (seed, step), so a resumed run repeats them', async () => {
    const model = convBnModel(13);
    const x = uniform([4, 2, 8, 8], 5);
    const target = oneHot([0, 1, 2, 0], 3);
    const run = async () => {
      const trainer = await Trainer.create(model, [{ x }, { x: uniform([3, 2, 8, 8], 6) }], { runtime, seed: 5 });
      const losses = [];
      for (let i = 0; i < 3; i++) losses.push((await trainer.step({ x }, target, { lr: 1e-2 })).loss);
      return { losses, saved: trainer.saved(), trainer };
    };
    const first = await run();
    const second = await run();
    assert.deepEqual(first.losses, second.losses);
    // resume after 2 steps: restore, take step 3
    const resumed = await Trainer.create(model, [{ x }, { x: uniform([3, 2, 8, 8], 6) }], { runtime, seed: 5 });
    const two = await Trainer.create(model, [{ x }, { x: uniform([3, 2, 8, 8], 6) }], { runtime, seed: 5 });
    for (let i = 0; i < 2; i++) await two.step({ x }, target, { lr: 1e-2 });
    resumed.restore(two.saved(), two.steps);
    assert.equal((await resumed.step({ x }, target, { lr: 1e-2 })).loss, first.losses[2]);
  });

  it('the trained model is a copy: folding it leaves the trainer\'s parameters alone', async () => {
    const wn = loadModelFile(path.join(root, 'models', 'mlp.onnx')).model;
    convert(wn);
    const x = uniform([4, 784], 9);
    const trainer = await Trainer.create(wn, [{ [wn.graph.inputs[0].name!]: x }], { runtime, optimizer: { kind: 'sgd' } });
    await trainer.step({ [wn.graph.inputs[0].name!]: x }, oneHot([1, 2, 3, 4], 10), { lr: 0.1 });
    const before = trainer.saved().map((t) => Float32Array.from(t.data));
    fold(trainer.trainedModel());
    trainer.saved().forEach((t, i) => assert.deepEqual(Float32Array.from(t.data), before[i], t.name));
  });

  it('the paper schedule: constant for the first half, then lr linearly toward 0 and β1 = 0.5', () => {
    assert.deepEqual(scheduledSettings('paper', 0.003, 0.9, 0, 200), { lr: 0.003, beta1: 0.9 });
    assert.deepEqual(scheduledSettings('paper', 0.003, 0.9, 99, 200), { lr: 0.003, beta1: 0.9 });
    assert.deepEqual(scheduledSettings('paper', 0.003, 0.9, 150, 200), { lr: 0.003 * 0.5, beta1: 0.5 });
    assert.ok(Math.abs(scheduledSettings('paper', 0.003, 0.9, 199, 200).lr - 0.003 * 0.01) < 1e-12);
    assert.deepEqual(scheduledSettings('constant', 0.1, 0.9, 150, 200), { lr: 0.1, beta1: 0.9 });
  });
});
