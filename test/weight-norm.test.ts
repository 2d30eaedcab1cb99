/**
 * convert and fold on every layer kind, built in code: the converted model computes what the
 * original did (ONNX Runtime, rtol 1e-4), and fold restores the original ops and weights.
 */
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { convert, type ConvertOptions } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { readFloats, tensorDims, int64Tensor } from '../src/tensor/values';
import { featureNorms } from '../src/tensor/norms';
import { assertClose, assertSameOutputs, copyModel, feedsFor, initializerValues, opTypes, randomTensor } from './support';

const F = DataType.FLOAT;

interface Case {
  name: string;
  opset?: number;
  irVersion?: number;
  input: [string, number[]][];
  output: [string, number[]];
  weights: TensorProto[];
  nodes: NodeProto[];
  /** Weight names expected to be converted. */
  converted: string[];
  /** Expected g shape of the first converted weight. */
  gShape: number[];
  options?: ConvertOptions;
  rtol?: number;
  atol?: number;
}

const w = (name: string, dims: number[], seed: number, type = F) => randomTensor(name, dims, seed, type);

const cases: Case[] = [
  {
    name: 'Conv 2-D with bias',
    input: [['x', [2, 3, 8, 8]]], output: ['y', [2, 4, 8, 8]],
    weights: [w('W', [4, 3, 3, 3], 1), w('B', [4], 2)],
    nodes: [makeNode('Conv', ['x', 'W', 'B'], ['y'], { pads: [1, 1, 1, 1] })],
    converted: ['W'], gShape: [4, 1, 1, 1],
  },
  {
    name: 'Conv 1-D, groups 2, dilation 2, stride 2 (opset 11)', opset: 11,
    input: [['x', [2, 4, 16]]], output: ['y', [2, 6, 6]],
    weights: [w('W', [6, 2, 3], 3)],
    nodes: [makeNode('Conv', ['x', 'W'], ['y'], { group: 2, dilations: [2], strides: [2] })],
    converted: ['W'], gShape: [6, 1, 1],
  },
  {
    name: 'Conv 3-D depthwise',
    input: [['x', [1, 3, 5, 5, 5]]], output: ['y', [1, 6, 3, 3, 3]],
    weights: [w('W', [6, 1, 3, 3, 3], 4)],
    nodes: [makeNode('Conv', ['x', 'W'], ['y'], { group: 3 })],
    converted: ['W'], gShape: [6, 1, 1, 1, 1],
  },
  {
    name: 'ConvTranspose, one g per output channel on axis 1',
    input: [['x', [2, 4, 5, 5]]], output: ['y', [2, 3, 11, 11]],
    weights: [w('W', [4, 3, 3, 3], 5), w('B', [3], 6)],
    nodes: [makeNode('ConvTranspose', ['x', 'W', 'B'], ['y'], { strides: [2, 2] })],
    converted: ['W'], gShape: [1, 3, 1, 1],
  },
  {
    name: 'ConvTranspose groups 2 without bias, output_padding',
    input: [['x', [1, 4, 5, 5]]], output: ['y', [1, 6, 12, 12]],
    weights: [w('W', [4, 3, 3, 3], 7)],
    nodes: [makeNode('ConvTranspose', ['x', 'W'], ['y'], { group: 2, strides: [2, 2], output_padding: [1, 1] })],
    converted: ['W'], gShape: [2, 1, 3, 1, 1],
  },
  {
    name: 'Gemm transB=0, alpha, beta',
    input: [['x', [3, 5]]], output: ['y', [3, 4]],
    weights: [w('W', [5, 4], 8), w('C', [4], 9)],
    nodes: [makeNode('Gemm', ['x', 'W', 'C'], ['y'], { alpha: { float: 0.7 }, beta: { float: 1.3 } })],
    converted: ['W'], gShape: [1, 4],
  },
  {
    name: 'Gemm transB=1 (PyTorch Linear)',
    input: [['x', [3, 5]]], output: ['y', [3, 4]],
    weights: [w('W', [4, 5], 10), w('C', [4], 11)],
    nodes: [makeNode('Gemm', ['x', 'W', 'C'], ['y'], { transB: 1 })],
    converted: ['W'], gShape: [4, 1],
  },
  {
    name: 'MatMul 2-D',
    input: [['x', [2, 3, 5]]], output: ['y', [2, 3, 4]],
    weights: [w('W', [5, 4], 12)],
    nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
    converted: ['W'], gShape: [1, 4],
  },
  {
    name: 'MatMul batched weight [2, K, N]',
    input: [['x', [2, 3, 5]]], output: ['y', [2, 3, 4]],
    weights: [w('W', [2, 5, 4], 13)],
    nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
    converted: ['W'], gShape: [2, 1, 4],
  },
  {
    name: 'MatMul 1-D weight (one output feature)',
    input: [['x', [3, 5]]], output: ['y', [3]],
    weights: [w('W', [5], 14)],
    nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
    converted: ['W'], gShape: [1],
  },
  {
    name: 'LSTM bidirectional: W and R, one g per gate row',
    input: [['x', [4, 2, 3]]], output: ['y', [4, 2, 2, 5]],
    weights: [w('W', [2, 20, 3], 15), w('R', [2, 20, 5], 16), w('B', [2, 40], 17)],
    nodes: [makeNode('LSTM', ['x', 'W', 'R', 'B'], ['y'], { hidden_size: 5, direction: 'bidirectional' })],
    converted: ['W', 'R'], gShape: [2, 20, 1],
  },
  {
    name: 'GRU linear_before_reset',
    input: [['x', [4, 2, 3]]], output: ['y', [4, 1, 2, 5]],
    weights: [w('W', [1, 15, 3], 18), w('R', [1, 15, 5], 19), w('B', [1, 30], 20)],
    nodes: [makeNode('GRU', ['x', 'W', 'R', 'B'], ['y'], { hidden_size: 5, linear_before_reset: 1 })],
    converted: ['W', 'R'], gShape: [1, 15, 1],
  },
  {
    name: 'RNN reverse',
    input: [['x', [4, 2, 3]]], output: ['y', [4, 1, 2, 5]],
    weights: [w('W', [1, 5, 3], 21), w('R', [1, 5, 5], 22)],
    nodes: [makeNode('RNN', ['x', 'W', 'R'], ['y'], { hidden_size: 5, direction: 'reverse' })],
    converted: ['W', 'R'], gShape: [1, 5, 1],
  },
  {
    name: 'weight through Transpose (stored [N, K]) into MatMul',
    input: [['x', [3, 5]]], output: ['y', [3, 4]],
    weights: [w('Wt', [4, 5], 23)],
    nodes: [makeNode('Transpose', ['Wt'], ['W'], { perm: [1, 0] }), makeNode('MatMul', ['x', 'W'], ['y'])],
    converted: ['Wt'], gShape: [4, 1],
  },
  {
    name: 'float16 weight through Cast and Identity into Conv',
    input: [['x', [1, 2, 6, 6]]], output: ['y', [1, 3, 4, 4]],
    weights: [w('W16', [3, 2, 3, 3], 24, DataType.FLOAT16)],
    nodes: [
      makeNode('Cast', ['W16'], ['W32'], { to: F }),
      makeNode('Identity', ['W32'], ['W']),
      makeNode('Conv', ['x', 'W'], ['y']),
    ],
    converted: ['W16'], gShape: [3, 1, 1, 1], rtol: 2e-3, atol: 1e-3,
  },
  {
    name: 'one weight shared by two MatMuls is rewritten once',
    input: [['x', [3, 4]]], output: ['y', [3, 4]],
    weights: [w('W', [4, 4], 25)],
    nodes: [makeNode('MatMul', ['x', 'W'], ['h']), makeNode('MatMul', ['h', 'W'], ['y'])],
    converted: ['W'], gShape: [1, 4],
  },
  {
    name: 'opset 7 / IR 3: Clip attribute floor, ReduceL2 axes attribute, initializers as inputs', opset: 7, irVersion: 3,
    input: [['x', [3, 5]]], output: ['y', [3, 4]],
    weights: [w('W', [4, 5], 26), w('C', [4], 27)],
    nodes: [makeNode('Gemm', ['x', 'W', 'C'], ['y'], { transB: 1 })],
    converted: ['W'], gShape: [4, 1],
  },
  {
    name: 'opset 18: ReduceL2 axes as input',
    opset: 18,
    input: [['x', [2, 3, 8, 8]]], output: ['y', [2, 4, 6, 6]],
    weights: [w('W', [4, 3, 3, 3], 28)],
    nodes: [makeNode('Conv', ['x', 'W'], ['y'])],
    converted: ['W'], gShape: [4, 1, 1, 1],
  },
  {
    name: 'opset 21',
    opset: 21,
    input: [['x', [3, 5]]], output: ['y', [3, 4]],
    weights: [w('W', [5, 4], 29)],
    nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
    converted: ['W'], gShape: [1, 4],
  },
];

function build(c: Case): Model {
  const model = makeModel({
    opset: c.opset ?? 13,
    irVersion: c.irVersion,
    inputs: c.input.map(([name, dims]) => tensorInfo(name, F, dims)),
    outputs: [tensorInfo(c.output[0], F, c.output[1])],
    initializers: c.weights,
    nodes: c.nodes,
  });
  if (model.initializersAreInputs) {
    model.graph.appendGraphInputs(c.weights.map((t) => tensorInfo(t.name ?? '', t.data_type ?? F, tensorDims(t))));
  }
  return copyModel(model);
}

describe('convert and fold, per layer kind', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const original = build(c);
      const feeds = feedsFor(original);
      const converted = copyModel(original);
      const { report } = convert(converted, c.options);
      assert.deepEqual(report.converted.map((r) => r.weight).sort(), [...c.converted].sort());
      assert.deepEqual(report.skipped, []);
      const first = report.converted.find((r) => r.weight === c.converted[0])!;
      assert.deepEqual(tensorDims(converted.graph.initializer(first.g)!), c.gShape);
      // right after convert: v = W, g = ‖W‖ per feature
      assertClose(initializerValues(converted, first.v), initializerValues(original, first.weight), 0, 0, 'v');
      const norms = featureNorms(initializerValues(original, first.weight), first.view, first.keep);
      assertClose(initializerValues(converted, first.g), norms, 1e-3, 1e-6, 'g');
      await assertSameOutputs(original, copyModel(converted), feeds, c.rtol, c.atol);

      const folded = copyModel(fold(copyModel(converted)).model);
      assert.deepEqual(opTypes(folded), opTypes(original));
      assert.deepEqual(folded.graph.initializers.map((t) => t.name), original.graph.initializers.map((t) => t.name));
      assert.deepEqual(folded.graph.inputs.map((i) => i.name), original.graph.inputs.map((i) => i.name));
      for (const name of c.converted) {
        const half = original.graph.initializer(name)!.data_type === DataType.FLOAT16;
        assertClose(initializerValues(folded, name), initializerValues(original, name), half ? 1e-3 : 1e-6, 1e-7, `folded ${name}`);
      }
      await assertSameOutputs(original, folded, feeds, c.rtol, c.atol);
    });
  }

  it('keeps IR < 4 models valid: g, v and the helper constants become graph inputs', () => {
    const model = build(cases.find((c) => c.opset === 7)!);
    convert(model);
    const names = model.graph.inputs.map((i) => i.name);
    for (const t of model.graph.initializers) assert.ok(names.includes(t.name), `${t.name} listed as input`);
    assert.ok(!names.includes('W'));
    fold(model);
    assert.deepEqual(model.graph.inputs.map((i) => i.name), ['x', 'W', 'C']);
  });

  it('a zero weight vector stays finite: g = 0 and W = 0 for that row', async () => {
    const W = randomTensor('W', [3, 4], 30);
    readFloats(W).fill(0, 4, 8);
    const original = copyModel(makeModel({
      opset: 13, inputs: [tensorInfo('x', F, [2, 4])], outputs: [tensorInfo('y', F, [2, 3])],
      initializers: [W], nodes: [makeNode('Gemm', ['x', 'W'], ['y'], { transB: 1 })],
    }));
    const converted = copyModel(original);
    convert(converted);
    assert.equal(initializerValues(converted, 'W_g')[1], 0);
    await assertSameOutputs(original, copyModel(converted), feedsFor(original));
    fold(converted);
    assert.deepEqual([...initializerValues(converted, 'W').slice(4, 8)], [0, 0, 0, 0]);
  });

  it('selects by op type and by name, and reports what it skipped and why', () => {
    const model = copyModel(makeModel({
      opset: 13,
      inputs: [tensorInfo('x', F, [2, 4]), tensorInfo('dyn', F, [4, 4])],
      outputs: [tensorInfo('y', F, [2, 4])],
      initializers: [w('enc.W', [4, 4], 31), w('dec.W', [4, 4], 32), w('head.W', [4, 4], 33), int64Tensor('q', [4, 4], [2])],
      nodes: [
        makeNode('MatMul', ['x', 'enc.W'], ['a'], {}, 'enc'),
        makeNode('Gemm', ['a', 'dec.W'], ['b'], {}, 'dec'),
        makeNode('MatMul', ['b', 'dyn'], ['c'], {}, 'dynamic'),
        makeNode('Reshape', ['q', 'q'], ['qq'], {}, 'quantized'),
        makeNode('MatMul', ['c', 'head.W'], ['y'], {}, 'head'),
      ],
    }));
    const { report } = convert(model, { ops: ['MatMul'], exclude: /^head/ });
    assert.deepEqual(report.converted.map((c) => c.weight), ['enc.W']);
    assert.deepEqual(report.skipped.map((s) => [s.node, s.reason]), [
      ['dec', 'op type not selected'],
      ['dynamic', 'weight "dyn" is a graph input, not a constant'],
      ['head', 'excluded by `exclude` ^head'],
    ]);
    const again = convert(model, { include: /enc/ }).report;
    assert.deepEqual(again.converted, []);
    assert.equal(again.skipped.find((s) => s.node === 'enc')?.reason, 'already weight-normalized');
  });

  it('skips integer weights with the reason', () => {
    const model = copyModel(makeModel({
      opset: 13, inputs: [tensorInfo('x', DataType.INT64, [2, 2])], outputs: [tensorInfo('y', DataType.INT64, [2, 2])],
      initializers: [int64Tensor('Wi', [1, 2, 3, 4], [2, 2])], nodes: [makeNode('MatMul', ['x', 'Wi'], ['y'], {}, 'int')],
    }));
    const { report } = convert(model);
    assert.deepEqual(report.skipped.map((s) => s.reason), ['weight "Wi" is INT64, not floating point']);
  });

  it('refuses opset 6 with a message naming the opset', () => {
    const model = makeModel({
      opset: 6, irVersion: 3, inputs: [tensorInfo('x', F, [2, 4])], outputs: [tensorInfo('y', F, [2, 4])],
      initializers: [w('W', [4, 4], 34)], nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
    });
    assert.throws(() => convert(model), /opset 6; wn-onnx needs opset 7 or newer/);
  });

  it('fold of a model trained in WN form folds whatever g and v hold', async () => {
    const original = build(cases[0]);
    const trained = copyModel(original);
    convert(trained);
    const g = initializerValues(trained, 'W_g');
    g.forEach((_, i) => { g[i] = 0.5 + i; });
    const folded = copyModel(fold(copyModel(trained)).model);
    assert.deepEqual(opTypes(folded), opTypes(original));
    await assertSameOutputs(copyModel(trained), folded, feedsFor(original));
    const norms = featureNorms(initializerValues(folded, 'W'), [4, 3, 3, 3], [0]);
    assertClose(norms, [0.5, 1.5, 2.5, 3.5], 1e-6, 0, '‖W‖ = g');
  });
});
