/** Gradient rules of elementwise, activation, selection and normalization ops against finite differences. */
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import { createTensorProto } from '../src/onnx/codec';
import { makeNode } from '../src/ir/make';
import { floatTensor, int64Tensor } from '../src/tensor/values';
import { gradCheck } from './helpers/gradcheck';

/** Deterministic values in [0.2, 1.2): inside the domain of Sqrt, Log and a real-valued Pow. */
function positive(count: number): number[] {
  return Array.from({ length: count }, (_, i) => 0.2 + ((i * 0.618034) % 1));
}

const doubleScalar = (name: string, value: number) => floatTensor(name, DataType.DOUBLE, [], Float64Array.of(value));

describe('gradient rules: elementwise', () => {
  for (const op of ['Neg', 'Sigmoid', 'Tanh', 'Exp', 'Abs', 'Reciprocal']) {
    it(op, async () => {
      await gradCheck({ nodes: [makeNode(op, ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }] });
    });
  }
  it('Erf (float32: ONNX Runtime has no float64 kernel)', async () => {
    await gradCheck({ type: DataType.FLOAT, nodes: [makeNode('Erf', ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }] });
  });
  for (const op of ['Sqrt', 'Log']) {
    it(`${op} (positive inputs)`, async () => {
      await gradCheck({ nodes: [makeNode(op, ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4], values: positive(12) }] });
    });
  }
  it('Abs at opset 7 (masks, no Sign)', async () => {
    await gradCheck({ opset: 7, nodes: [makeNode('Abs', ['x'], ['y'])], inputs: [{ name: 'x', dims: [5] }] });
  });

  it('LeakyRelu, default alpha', async () => {
    await gradCheck({ nodes: [makeNode('LeakyRelu', ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }] });
  });
  it('LeakyRelu, alpha 0.2', async () => {
    await gradCheck({ nodes: [makeNode('LeakyRelu', ['x'], ['y'], { alpha: { float: 0.2 } })], inputs: [{ name: 'x', dims: [3, 4] }] });
  });

  it('Pow, base and broadcast exponent', async () => {
    await gradCheck({
      nodes: [makeNode('Pow', ['a', 'b'], ['y'])],
      inputs: [{ name: 'a', dims: [2, 3], values: positive(6) }, { name: 'b', dims: [3] }],
    });
  });
  it('Pow at opset 7, exponent broadcast along a unit axis', async () => {
    await gradCheck({
      opset: 7,
      nodes: [makeNode('Pow', ['a', 'b'], ['y'])],
      inputs: [{ name: 'a', dims: [2, 3], values: positive(6) }, { name: 'b', dims: [2, 1] }],
    });
  });
  it('Pow, constant exponent (negative base)', async () => {
    await gradCheck({ nodes: [makeNode('Pow', ['a', 'two'], ['y'])], inputs: [{ name: 'a', dims: [4] }], constants: [doubleScalar('two', 2)] });
  });
  it('Pow, int64 exponent (opset 13)', async () => {
    await gradCheck({ opset: 13, nodes: [makeNode('Pow', ['a', 'three'], ['y'])], inputs: [{ name: 'a', dims: [4] }], constants: [int64Tensor('three', [3], [])] });
  });

  // values keep at least 0.05 from the bounds ±0.5, far beyond the finite-difference step
  const clipValues = [-0.9, -0.55, -0.45, -0.1, 0, 0.2, 0.45, 0.55, 0.8, 1.1];
  it('Clip at opset 9 (bounds as attributes; float32: no float64 kernel before opset 12)', async () => {
    await gradCheck({
      opset: 9,
      type: DataType.FLOAT,
      nodes: [makeNode('Clip', ['x'], ['y'], { min: { float: -0.5 }, max: { float: 0.5 } })],
      inputs: [{ name: 'x', dims: [10], values: clipValues }],
    });
  });
  it('Clip at opset 11 (lower bound input only; float32)', async () => {
    await gradCheck({
      opset: 11,
      type: DataType.FLOAT,
      nodes: [makeNode('Clip', ['x', 'lo'], ['y'])],
      inputs: [{ name: 'x', dims: [10], values: clipValues }],
      constants: [floatTensor('lo', DataType.FLOAT, [], Float64Array.of(-0.5))],
    });
  });
  it('Clip at opset 13 (bounds as inputs)', async () => {
    await gradCheck({
      opset: 13,
      nodes: [makeNode('Clip', ['x', 'lo', 'hi'], ['y'])],
      inputs: [{ name: 'x', dims: [10], values: clipValues }],
      constants: [doubleScalar('lo', -0.5), doubleScalar('hi', 0.5)],
    });
  });

  for (const opset of [9, 17]) {
    it(`Where at opset ${opset}, condition and both branches broadcast`, async () => {
      await gradCheck({
        opset,
        nodes: [makeNode('Greater', ['c', 'zero'], ['condition']), makeNode('Where', ['condition', 'a', 'b'], ['y'])],
        inputs: [{ name: 'c', dims: [3, 1] }, { name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [4] }],
        constants: [doubleScalar('zero', 0)],
        wrt: ['a', 'b'],
      });
    });
  }

  it('Cast to float32 and back', async () => {
    await gradCheck({
      nodes: [makeNode('Cast', ['x'], ['x32'], { to: DataType.FLOAT }), makeNode('Cast', ['x32'], ['y'], { to: DataType.DOUBLE })],
      inputs: [{ name: 'x', dims: [3, 4] }],
      // float32 rounding: a wide step keeps it small against the difference
      step: 1e-3,
      tolerance: 1e-3,
    });
  });

  const softmaxes: [number, number][] = [[11, 1], [13, 1], [13, -1]];
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const [opset, axis] of softmaxes) {
      it(`${op} at opset ${opset}, axis ${axis}, rank 3`, async () => {
        await gradCheck({ opset, nodes: [makeNode(op, ['x'], ['y'], { axis })], inputs: [{ name: 'x', dims: [2, 3, 4] }] });
      });
    }
  }

  it('Dropout at opset 7 (ratio attribute, mask output)', async () => {
    await gradCheck({ opset: 7, nodes: [makeNode('Dropout', ['x'], ['y', 'mask'], { ratio: { float: 0.3 } })], inputs: [{ name: 'x', dims: [3, 4] }] });
  });
  it('Dropout at opset 12 (ratio input)', async () => {
    await gradCheck({ opset: 12, nodes: [makeNode('Dropout', ['x', 'ratio'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }], constants: [doubleScalar('ratio', 0.3)] });
  });
  it('Dropout at opset 13 (no optional inputs)', async () => {
    await gradCheck({ opset: 13, nodes: [makeNode('Dropout', ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }] });
  });
  it('Dropout with a training_mode input is refused', async () => {
    const trainingMode = createTensorProto({ name: 'training', data_type: DataType.BOOL, dims: [], raw_data: Uint8Array.of(1) });
    await assert.rejects(
      gradCheck({ opset: 13, nodes: [makeNode('Dropout', ['x', 'ratio', 'training'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }], constants: [doubleScalar('ratio', 0.3), trainingMode] }),
      /cannot differentiate Dropout node "y": .*training_mode/,
    );
  });

  it('the check rejects a gradient that differs from finite differences (Clip at its bounds)', async () => {
    // at a bound the rule passes the whole gradient (PyTorch's clamp), central differences see half of it
    await assert.rejects(
      gradCheck({
        opset: 13,
        nodes: [makeNode('Clip', ['x', 'lo', 'hi'], ['y'])],
        inputs: [{ name: 'x', dims: [4], values: [-0.5, -0.2, 0.3, 0.5] }],
        constants: [doubleScalar('lo', -0.5), doubleScalar('hi', 0.5)],
      }),
      /∂L\/∂x\[0\]: analytic .*finite differences/,
    );
  });
});
