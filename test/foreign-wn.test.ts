/**
 * Weight norm as other tools write it. Real architectures exported by PyTorch with constant
 * folding off (test/fixtures/make_foreign_wn_fixtures.py): fold gives PyTorch's own
 * constant-folded model (its ops and initializer names) and PyTorch's outputs; convert adopts
 * the exporter's g and v (names and values kept), init, a training epoch and fold follow.
 * Hand-built graphs in the decomposed and Keras (tf2onnx) forms, and decoys that are not weight
 * norm, which neither fold nor convert may change.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { inputSpecs } from '../src/ir/inputs';
import { readFloats, floatTensor, int64Tensor } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { compareValues } from '../src/tensor/compare';
import { traceWeight, weightSlots } from '../src/wn/layers';
import { inspectModel } from '../src/wn/inspect';
import { convert } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { dataDependentInit } from '../src/train/data-init';
import { Trainer } from '../src/train/trainer';
import { fit } from '../src/train/fit';
import { assignInputs } from '../src/data/batch';
import { toTensor } from '../src/runtime/tensors';
import { loadModelFile } from '../src/node/model-file';
import { copyModel, randomTensor, run, runtime } from './support';
import { readNpy } from './helpers/npy';
import { root } from './helpers/cli';

const FIXTURES = path.join(root, 'test', 'fixtures', 'foreign-wn');
const F = DataType.FLOAT;
const load = (name: string) => loadModelFile(path.join(FIXTURES, `${name}.onnx`)).model;
const NORM_OPS = new Set(['ReduceL2', 'ReduceSum', 'ReduceSumSquare', 'Sqrt', 'Pow', 'LpNormalization', 'Reciprocal', 'Max', 'Clip']);

function opCounts(model: Model): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph.nodes) counts[n.op_type ?? ''] = (counts[n.op_type ?? ''] ?? 0) + 1;
  return counts;
}

/** Every layer weight as the layer reads it: 'constant', 'weight-norm', 'computed' or 'dynamic'. */
function weightKinds(model: Model): string[] {
  return model.graph.nodes.flatMap((node) => weightSlots(node).filter((s) => node.input?.[s.input]).map((s) => traceWeight(model.graph, node.input![s.input]).kind));
}

function initializerBytes(model: Model, names: string[]): Map<string, number[]> {
  return new Map(names.map((n) => [n, Array.from(readFloats(model.graph.initializer(n)!))]));
}

async function output(model: Model, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const outputs = await run(model, feeds);
  return outputs[model.graph.outputs[0].name!].data as Float32Array;
}

function assertValuesClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 1e-5, rtol = 1e-4): void {
  const c = compareValues(actual, expected, { rtol, atol });
  assert.ok(c.close, `${what}: ${c.bad} values differ (max abs ${c.maxAbs.toExponential(2)}; worst at ${c.worst}: ${actual[c.worst]} vs ${expected[c.worst]})`);
}

const ARCHITECTURES = [
  { name: 'hifigan', exports: ['hifigan_opset9', 'hifigan_opset11', 'hifigan_opset13', 'hifigan_opset17', 'hifigan_param_opset17'], layers: 12, plain: 0 },
  // the TCN's 1x1 downsample has no weight norm
  { name: 'tcn', exports: ['tcn_opset9', 'tcn_opset11', 'tcn_opset13', 'tcn_opset17'], layers: 5, plain: 1 },
];

describe('weight norm as PyTorch exports it (constant folding off)', () => {
  for (const arch of ARCHITECTURES) {
    const x = readNpy(path.join(FIXTURES, `${arch.name}_input.npy`));
    const expected = readNpy(path.join(FIXTURES, `${arch.name}_output.npy`));
    const feeds = () => ({ x: toTensor(runtime, 'float32', x.data as Float32Array, x.shape) });

    for (const name of arch.exports) {
      it(`${name}: fold gives PyTorch's constant-folded model (ops, initializer names) and its outputs`, async () => {
        const model = load(name);
        const reference = load(`${arch.name}_folded_${name.replace(/.*_/, '')}`);
        assert.deepEqual(weightKinds(model).filter((k) => k === 'computed').length, arch.layers);
        const { report } = fold(model);
        assert.equal(report.folded.length, arch.layers);
        assert.deepEqual([...new Set(report.folded.map((f) => f.form))], ['pytorch']);
        assert.deepEqual(report.skipped, []);
        assert.deepEqual(opCounts(model), opCounts(reference), 'the exporter\'s folded ops');
        assert.ok(!model.graph.nodes.some((n) => ['ReduceL2', 'Mul'].includes(n.op_type ?? '')), 'no norm arithmetic left');
        assert.deepEqual(model.graph.initializers.map((t) => t.name).sort(), reference.graph.initializers.map((t) => t.name).sort());
        assert.ok(weightKinds(model).every((k) => k === 'constant'), 'every layer weight is an initializer');
        assertValuesClose(await output(model, feeds()), expected.data as Float32Array, `${name} folded vs PyTorch`);
      });

      it(`${name}: convert adopts the exporter's g and v (names, values, axes); outputs unchanged`, async () => {
        const model = load(name);
        const wn = inspectModel(model).filter((l) => l.form === 'foreign-weight-norm');
        assert.equal(wn.length, arch.layers, 'inspect shows the foreign weight norm before convert');
        const { report } = convert(model);
        const adopted = report.converted.filter((c) => c.form);
        assert.equal(adopted.length, arch.layers);
        assert.ok(adopted.every((c) => c.form === 'pytorch'));
        assert.equal(report.converted.length - adopted.length, arch.plain, 'plain layers are converted as usual');
        const names = adopted.flatMap((c) => [c.g, c.v]);
        assert.ok(names.every((n) => /weight_[gv]$|parametrizations\.weight\.original[01]$/.test(n)), names.join(', '));
        assert.deepEqual(initializerBytes(model, names), initializerBytes(load(name), names), 'g and v keep their values');
        const sources = inspectModel(model).map((l) => `${l.form} ${l.source}`);
        assert.equal(sources.filter((l) => l === 'weight-norm pytorch').length, arch.layers, sources.join('; '));
        assert.equal(sources.filter((l) => l === 'weight-norm wn-onnx').length, arch.plain);
        assertValuesClose(await output(model, feeds()), expected.data as Float32Array, `${name} converted vs PyTorch`);
      });
    }

    it(`${arch.name}: convert, init, one epoch of training (l1), fold gives the plain model again`, async function () {
      this.timeout(60000);
      const model = load(`${arch.name}_opset17`);
      const reference = load(`${arch.name}_folded_opset17`);
      const { report: converted } = convert(model);
      const gBefore = new Map(model.graph.initializers.filter((t) => /weight_g$/.test(t.name ?? '')).map((t) => [t.name, Array.from(readFloats(t))]));
      const { report: init } = await dataDependentInit(model, feeds(), { runtime });
      assert.ok(init.layers.length > 0);
      for (const layer of init.layers) {
        const g = model.graph.initializers.find((t) => t.name === `${layer.weight}_g`)!;
        assert.notDeepEqual(Array.from(readFloats(g)), gBefore.get(g.name), `init set g of ${layer.weight}`);
      }
      const perInputChannel = init.biases.skipped.filter((s) => /not per output feature/.test(s.reason)).length;
      assert.equal(init.layers.length + perInputChannel, converted.converted.length, 'every layer is initialized, or skipped because its g is per input channel');

      const random = seededRandom(4);
      const trainer = await Trainer.create(model, [feeds()], { runtime, loss: 'l1', optimizer: { kind: 'adam' } });
      const outputDims = trainer.outputDims.map((d) => d ?? x.shape[0]);
      const targets = { data: Float32Array.from({ length: outputDims.reduce((a, b) => a * b, 1) }, () => random() - 0.5), shape: outputDims, dtype: 'float32' };
      const data = { inputs: assignInputs(inputSpecs(model), [{ source: 'x', arrays: new Map([['', x]]) }]), targets, source: 'targets' };
      const [epoch] = await fit(trainer, data, { runtime, epochs: 1, batchSize: x.shape[0], lr: 1e-3 });
      assert.ok(Number.isFinite(epoch.trainLoss));
      const trained = trainer.trainedModel();
      await trainer.release();
      const before = await output(copyModel(trained), feeds());
      const { report } = fold(trained);
      assert.equal(report.folded.length, converted.converted.length);
      assert.deepEqual(opCounts(trained), opCounts(reference));
      assert.deepEqual(trained.graph.initializers.map((t) => t.name).sort(), reference.graph.initializers.map((t) => t.name).sort());
      assertValuesClose(await output(trained, feeds()), before, `${arch.name} trained: folded vs weight-normalized`);
    });
  }
});

/** A layer model: x [2, 4] @ W [4, 3] (MatMul) or Conv; `wNodes` compute the weight "w". */
function matmulModel(opset: number, wNodes: NodeProto[], initializers: TensorProto[], weight = 'w'): Model {
  return makeModel({
    opset,
    inputs: [tensorInfo('x', F, [2, 4])],
    outputs: [tensorInfo('y', F, [2, 3])],
    nodes: [...wNodes, makeNode('MatMul', ['x', weight], ['y'])],
    initializers,
  });
}

const xFeeds = () => ({ x: toTensor(runtime, 'float32', Float64Array.from({ length: 8 }, (_, i) => Math.sin(i + 1)), [2, 4]) });

/** v [4, 3] normalized over axis 0 (per output column of a MatMul weight), g [1, 3]. */
const v = () => randomTensor('v', [4, 3], 1);
const g = () => floatTensor('g', F, [1, 3], Float32Array.of(0.5, 1.5, 2));
const ints = int64Tensor;
const scalar = (name: string, value: number) => floatTensor(name, F, [], Float32Array.of(value));

interface FormCase { name: string; opset: number; form: string; nodes: NodeProto[]; initializers: TensorProto[]; v?: string }

const FORMS: FormCase[] = [
  {
    name: 'ReduceL2 with axes as an input (opset 18)', opset: 18, form: 'pytorch',
    nodes: [makeNode('ReduceL2', ['v', 'axes'], ['n'], { keepdims: 1 }), makeNode('Div', ['v', 'n'], ['d']), makeNode('Mul', ['g', 'd'], ['w'])],
    initializers: [v(), g(), ints('axes', [0])],
  },
  {
    name: 'v * (g / ‖v‖) with ‖v‖ = Sqrt(ReduceSum(Mul(v, v))) (torch.export\'s decomposition)', opset: 13, form: 'generic',
    nodes: [makeNode('Mul', ['v', 'v'], ['sq']), makeNode('ReduceSum', ['sq', 'axes'], ['s'], { keepdims: 1 }), makeNode('Sqrt', ['s'], ['n']),
      makeNode('Div', ['g', 'n'], ['scale']), makeNode('Mul', ['v', 'scale'], ['w'])],
    initializers: [v(), g(), ints('axes', [0])],
  },
  {
    name: 'Sqrt(ReduceSumSquare(v)), floored by Max, Reciprocal', opset: 13, form: 'generic',
    nodes: [makeNode('ReduceSumSquare', ['v'], ['s'], { axes: [0], keepdims: 1 }), makeNode('Sqrt', ['s'], ['n']), makeNode('Max', ['n', 'eps'], ['nf']),
      makeNode('Reciprocal', ['nf'], ['r']), makeNode('Mul', ['v', 'r'], ['d']), makeNode('Mul', ['d', 'g'], ['w'])],
    initializers: [v(), g(), scalar('eps', 1e-12)],
  },
  {
    name: 'Pow(ReduceSum(Pow(v, 2)), 0.5), Div(1, ·), g reshaped from [3] and cast', opset: 13, form: 'generic',
    nodes: [makeNode('Pow', ['v', 'two'], ['sq']), makeNode('ReduceSum', ['sq', 'axes'], ['s'], { keepdims: 1 }), makeNode('Pow', ['s', 'half'], ['n']),
      makeNode('Div', ['one', 'n'], ['r']), makeNode('Reshape', ['g3', 'shape'], ['gr']), makeNode('Cast', ['gr'], ['gc'], { to: DataType.FLOAT }),
      makeNode('Mul', ['gc', 'r'], ['gs']), makeNode('Mul', ['gs', 'v'], ['w'])],
    initializers: [v(), floatTensor('g3', F, [3], Float32Array.of(0.5, 1.5, 2)), scalar('two', 2), scalar('half', 0.5), scalar('one', 1), ints('axes', [0]), ints('shape', [1, 3])],
  },
  {
    name: 'Clip floor on the norm (opset 11), g unsqueezed, Identity on the chain', opset: 11, form: 'generic',
    nodes: [makeNode('ReduceL2', ['v'], ['n'], { axes: [0], keepdims: 1 }), makeNode('Clip', ['n', 'eps'], ['nf']), makeNode('Identity', ['v'], ['vi']),
      makeNode('Div', ['vi', 'nf'], ['d']), makeNode('Unsqueeze', ['g3'], ['gu'], { axes: [0] }), makeNode('Mul', ['d', 'gu'], ['w'])],
    initializers: [v(), floatTensor('g3', F, [3], Float32Array.of(0.5, 1.5, 2)), scalar('eps', 1e-8)],
  },
  {
    name: 'g expanded from [3], v and g stored as float16 and cast to float32 first', opset: 13, form: 'generic', v: 'v16',
    nodes: [makeNode('Cast', ['v16'], ['v'], { to: DataType.FLOAT }), makeNode('Cast', ['g16'], ['g3'], { to: DataType.FLOAT }),
      makeNode('Expand', ['g3', 'shape'], ['ge']), makeNode('ReduceL2', ['v'], ['n'], { axes: [0], keepdims: 1 }),
      makeNode('Div', ['ge', 'n'], ['scale']), makeNode('Mul', ['v', 'scale'], ['w'])],
    initializers: [randomTensor('v16', [4, 3], 1, DataType.FLOAT16), floatTensor('g16', DataType.FLOAT16, [3], Float32Array.of(0.5, 1.5, 2)), ints('shape', [1, 3])],
  },
  {
    name: 'LpNormalization(v, axis 0, p 2) times g', opset: 13, form: 'generic',
    nodes: [makeNode('LpNormalization', ['v'], ['d'], { axis: 0, p: 2 }), makeNode('Mul', ['d', 'g'], ['w'])],
    initializers: [v(), g()],
  },
  {
    name: 'a scalar g (PyTorch\'s dim=None): the norm over every axis', opset: 13, form: 'pytorch',
    nodes: [makeNode('ReduceL2', ['v'], ['n'], { axes: [0, 1], keepdims: 1 }), makeNode('Div', ['v', 'n'], ['d']), makeNode('Mul', ['d', 'gs'], ['w'])],
    initializers: [v(), scalar('gs', 3)],
  },
];

describe('weight norm in other forms (hand-built graphs)', () => {
  for (const c of FORMS) {
    it(`${c.name}: fold and convert recognize it (${c.form}) and keep the outputs`, async () => {
      const original = matmulModel(c.opset, c.nodes, c.initializers);
      const expected = await output(original, xFeeds());
      const folded = copyModel(original);
      const { report } = fold(folded);
      assert.deepEqual(report.folded.map((f) => [f.form, f.shape]), [[c.form, [4, 3]]], JSON.stringify(report.skipped));
      assert.deepEqual(folded.graph.nodes.map((n) => n.op_type), ['MatMul'], 'only the layer is left');
      assert.equal(folded.graph.initializers.length, 1, 'every constant only the norm read is removed');
      assertValuesClose(await output(folded, xFeeds()), expected, 'folded');

      const adopted = copyModel(original);
      const { report: converted } = convert(adopted);
      assert.equal(converted.converted.length, 1);
      const vName = c.v ?? 'v';
      assert.equal(converted.converted[0].v, vName);
      assert.deepEqual(Array.from(readFloats(adopted.graph.initializer(vName)!)), Array.from(readFloats(original.graph.initializer(vName)!)));
      assertValuesClose(await output(adopted, xFeeds()), expected, 'adopted');
      const refolded = copyModel(adopted);
      fold(refolded);
      assert.deepEqual(refolded.graph.nodes.map((n) => n.op_type), ['MatMul']);
      assertValuesClose(await output(refolded, xFeeds()), expected, 'adopted, then folded');
    });
  }

  it('Keras WeightNormalization through tf2onnx: l2_normalize of an HWIO kernel times g, a Transpose before the Conv', async () => {
    const [h, w, cin, cout] = [3, 3, 2, 4];
    const kernel = randomTensor('kernel_v', [h, w, cin, cout], 3);
    const model = makeModel({
      opset: 13,
      inputs: [tensorInfo('x', F, [2, cin, 5, 5])],
      outputs: [tensorInfo('y', F, [2, cout, 5, 5])],
      nodes: [
        makeNode('Mul', ['kernel_v', 'kernel_v'], ['sq']), makeNode('ReduceSum', ['sq', 'axes'], ['s'], { keepdims: 1 }),
        makeNode('Max', ['s', 'eps'], ['sf']), makeNode('Sqrt', ['sf'], ['n']), makeNode('Reciprocal', ['n'], ['r']),
        makeNode('Mul', ['kernel_v', 'r'], ['normalized']), makeNode('Mul', ['normalized', 'kernel_g'], ['kernel']),
        makeNode('Transpose', ['kernel'], ['kernel_oihw'], { perm: [3, 2, 0, 1] }),
        makeNode('Conv', ['x', 'kernel_oihw', 'bias'], ['y'], { pads: [1, 1, 1, 1] }),
      ],
      initializers: [kernel, floatTensor('kernel_g', F, [cout], Float32Array.of(0.5, 1, 1.5, 2)), ints('axes', [0, 1, 2]),
        scalar('eps', 1e-12), floatTensor('bias', F, [cout], Float32Array.of(0.1, -0.1, 0.2, 0))],
    });
    const x = { x: toTensor(runtime, 'float32', Float64Array.from({ length: 2 * cin * 25 }, (_, i) => Math.cos(i)), [2, cin, 5, 5]) };
    const expected = await output(model, x);
    const folded = copyModel(model);
    const { report } = fold(folded);
    assert.deepEqual(report.folded.map((f) => [f.form, f.weight, f.shape]), [['keras', 'kernel', [cout, cin, h, w]]]);
    assert.deepEqual(folded.graph.nodes.map((n) => n.op_type), ['Conv'], 'the Transpose of the constant is folded too');
    assertValuesClose(await output(folded, x), expected, 'folded');

    const adopted = copyModel(model);
    const { report: converted } = convert(adopted);
    assert.deepEqual(converted.converted.map((c) => [c.form, c.keep]), [['keras', [3]]], 'the exporter\'s axes: per output channel, last in HWIO');
    assertValuesClose(await output(adopted, x), expected, 'adopted');
    const { report: init } = await dataDependentInit(adopted, x, { runtime });
    assert.equal(init.layers.length, 1, 'init takes g through the Transpose: one g per output channel');
    fold(adopted);
    assert.deepEqual(adopted.graph.nodes.map((n) => n.op_type), ['Conv']);
  });
});

describe('decoys: not weight norm, left alone', () => {
  const decoys: { name: string; model: () => Model; reason: RegExp }[] = [
    {
      name: 'a cosine classifier: v/‖v‖ without g',
      model: () => matmulModel(13, [makeNode('ReduceL2', ['v'], ['n'], { axes: [0], keepdims: 1 }), makeNode('Div', ['v', 'n'], ['w'])], [v()]),
      reason: /without a gain g/,
    },
    {
      name: 'a norm over other axes than g broadcasts over',
      model: () => matmulModel(13, [makeNode('ReduceL2', ['v'], ['n'], { axes: [1], keepdims: 1 }), makeNode('Div', ['v', 'n'], ['d']), makeNode('Mul', ['d', 'g'], ['w'])], [v(), g()]),
      reason: /does not compute g·v\/max\(‖v‖, 0\) with the norm over axes \[0\]/,
    },
    {
      name: 'a normalized activation (x/‖x‖ · g feeding a layer whose weight is plain)',
      model: () => makeModel({
        opset: 13,
        inputs: [tensorInfo('x', F, [2, 4])],
        outputs: [tensorInfo('y', F, [2, 3])],
        nodes: [makeNode('ReduceL2', ['x'], ['n'], { axes: [1], keepdims: 1 }), makeNode('Div', ['x', 'n'], ['d']), makeNode('Mul', ['d', 'gx'], ['xn']),
          makeNode('MatMul', ['xn', 'W'], ['y'])],
        initializers: [floatTensor('gx', F, [1, 4], Float32Array.of(1, 2, 3, 4)), randomTensor('W', [4, 3], 2)],
      }),
      reason: /./,
    },
  ];
  for (const d of decoys) {
    it(`${d.name}: fold and convert change no output`, async () => {
      const original = d.model();
      const expected = await output(original, xFeeds());
      const folded = copyModel(original);
      const { report } = fold(folded);
      assert.deepEqual(report.folded, []);
      assert.deepEqual(folded.graph.nodes.map((n) => n.op_type), original.graph.nodes.map((n) => n.op_type));
      assertValuesClose(await output(folded, xFeeds()), expected, 'fold');
      const converted = copyModel(original);
      const { report: c } = convert(converted);
      if (d.name.startsWith('a normalized activation')) {
        assert.deepEqual(c.converted.map((w) => w.weight), ['W'], 'the plain layer weight is converted; the activation is not touched');
      } else {
        assert.deepEqual(c.converted, []);
        assert.match(c.skipped[0].reason, d.reason);
        assert.match(report.skipped[0]?.reason ?? '', d.reason);
      }
      assertValuesClose(await output(converted, xFeeds()), expected, 'convert');
    });
  }
});
