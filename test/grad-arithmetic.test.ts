/** Gradient rules of arithmetic and matrix ops against finite differences. */
import { DataType } from '../src/onnx/enums';
import { makeNode } from '../src/ir/make';
import { gradCheck } from './helpers/gradcheck';

describe('gradient rules: arithmetic', () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    it(`${op} with broadcasting (rank and unit axes)`, async () => {
      await gradCheck({
        nodes: [makeNode(op, ['a', 'b'], ['y'])],
        inputs: [{ name: 'a', dims: [2, 3, 4] }, { name: 'b', dims: [3, 1] }],
      });
    });
    it(`${op} with the same input twice`, async () => {
      await gradCheck({ nodes: [makeNode(op, ['a', 'a'], ['y'])], inputs: [{ name: 'a', dims: [3] }] });
    });
  }

  for (const op of ['Max', 'Min']) {
    it(`${op} of three inputs with broadcasting`, async () => {
      await gradCheck({ nodes: [makeNode(op, ['a', 'b', 'c'], ['y'])], inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [3] }, { name: 'c', dims: [2, 1] }] });
    });
    it(`${op} at opset 8 (no float Equal)`, async () => {
      await gradCheck({ opset: 8, nodes: [makeNode(op, ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [4] }, { name: 'b', dims: [1] }] });
    });
  }

  it('Relu', async () => {
    await gradCheck({ nodes: [makeNode('Relu', ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 5] }] });
  });

  it('Identity', async () => {
    await gradCheck({ nodes: [makeNode('Identity', ['x'], ['y'])], inputs: [{ name: 'x', dims: [4] }] });
  });

  const matmuls: [number[], number[]][] = [
    [[3, 4], [4, 5]], [[2, 3, 4], [4, 5]], [[4], [4, 5]], [[3, 4], [4]], [[4], [4]],
    [[2, 1, 3, 4], [5, 4, 2]], [[3, 4], [2, 4, 5]],
  ];
  for (const [a, b] of matmuls) {
    it(`MatMul [${a}] x [${b}]`, async () => {
      await gradCheck({ nodes: [makeNode('MatMul', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: a }, { name: 'b', dims: b }] });
    });
  }

  for (const [transA, transB] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
    it(`Gemm transA=${transA} transB=${transB} alpha beta, C broadcast`, async () => {
      await gradCheck({
        nodes: [makeNode('Gemm', ['a', 'b', 'c'], ['y'], { transA, transB, alpha: { float: 0.7 }, beta: { float: 1.5 } })],
        inputs: [{ name: 'a', dims: transA ? [4, 3] : [3, 4] }, { name: 'b', dims: transB ? [5, 4] : [4, 5] }, { name: 'c', dims: [5] }],
      });
    });
  }
  it('Gemm at opset 9 (C required, [1, N])', async () => {
    await gradCheck({
      opset: 9,
      nodes: [makeNode('Gemm', ['a', 'b', 'c'], ['y'], { transB: 1 })],
      inputs: [{ name: 'a', dims: [3, 4] }, { name: 'b', dims: [5, 4] }, { name: 'c', dims: [1, 5] }],
    });
  });
  it('float32 tolerance still checks (Mul)', async () => {
    await gradCheck({ type: DataType.FLOAT, nodes: [makeNode('Mul', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [3] }] });
  });
});
