/** The step graph's Convs with few windows per sample as im2col × MatMul: same outputs, gradients by finite differences. */
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { AttributeValue } from '../src/ir/attributes';
import type { ValueType } from '../src/ir/value-types';
import { CPU_LOWERING } from '../src/autodiff/rule';
import { lowerConvsAsMatMul } from '../src/train/conv-matmul';
import { loweringFor } from '../src/train/step-graph';
import { Trainer } from '../src/train/trainer';
import { floatTensor } from '../src/tensor/values';
import { seededNormal } from '../src/tensor/random';
import { gradCheck } from './helpers/gradcheck';
import { run, runtime } from './support';

interface Case { name: string; x: number[]; w: number[]; y: number[]; attributes?: Record<string, AttributeValue>; bias?: boolean; opset?: number }

const cases: Case[] = [
  { name: '2-D 3×3 pads 1 (a ResNet block at 2×2)', x: [3, 4, 2, 2], w: [5, 4, 3, 3], y: [3, 5, 2, 2], attributes: { pads: [1, 1, 1, 1] }, bias: true },
  { name: '2-D stride 2 pads 1', x: [2, 3, 5, 6], w: [4, 3, 3, 3], y: [2, 4, 3, 3], attributes: { strides: [2, 2], pads: [1, 1, 1, 1] }, bias: true },
  { name: '2-D dilation 2, asymmetric pads, no bias', x: [2, 2, 5, 5], w: [3, 2, 2, 3], y: [2, 3, 5, 2], attributes: { dilations: [2, 2], pads: [1, 0, 1, 1] } },
  { name: '2-D SAME_UPPER stride 2', x: [2, 2, 5, 4], w: [3, 2, 3, 3], y: [2, 3, 3, 2], attributes: { auto_pad: 'SAME_UPPER', strides: [2, 2] }, bias: true },
  { name: '1-D kernel 7 pads 3 at opset 10 (Pad with attributes)', x: [2, 3, 9], w: [4, 3, 7], y: [2, 4, 9], attributes: { pads: [3, 3] }, bias: true, opset: 10 },
  { name: '2-D VALID (no padding row)', x: [2, 3, 4, 4], w: [2, 3, 3, 3], y: [2, 2, 2, 2], bias: true },
];

function lowered(c: Case) {
  const inputs = c.bias ? ['x', 'w', 'b'] : ['x', 'w'];
  const model = makeModel({
    opset: c.opset ?? 17,
    inputs: [tensorInfo('x', DataType.FLOAT, c.x), tensorInfo('w', DataType.FLOAT, c.w), ...(c.bias ? [tensorInfo('b', DataType.FLOAT, [c.w[0]])] : [])],
    outputs: [tensorInfo('y', DataType.FLOAT, c.y)],
    nodes: [makeNode('Conv', inputs, ['y'], c.attributes ?? {}, 'conv')],
    initializers: [],
  });
  const types = new Map<string, ValueType>([['x', c.x], ['w', c.w], ['b', [c.w[0]]], ['y', c.y]].map(([name, dims]) => [name as string, { type: DataType.FLOAT, dims: dims as number[] }]));
  const rewritten = makeModel({ opset: c.opset ?? 17, inputs: model.graph.inputs, outputs: model.graph.outputs, nodes: [...model.graph.nodes], initializers: [] });
  lowerConvsAsMatMul(rewritten.graph, c.opset ?? 17, types, CPU_LOWERING);
  return { model, rewritten, dims: { x: c.x, w: c.w, b: [c.w[0]] } as Record<string, number[]> };
}

describe('Conv as im2col × MatMul in the step graph', () => {
  for (const c of cases) {
    it(`${c.name}: the Conv's output`, async () => {
      const { model, rewritten, dims } = lowered(c);
      assert.ok(!rewritten.graph.nodes.some((n) => n.op_type === 'Conv'), 'no Conv left');
      const normal = seededNormal(7);
      const feeds = Object.fromEntries(model.graph.inputs.map((i) => {
        const shape = dims[i.name!];
        return [i.name!, new runtime.Tensor('float32', Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, normal), shape)];
      }));
      const [expected, actual] = [(await run(model, feeds)).y, (await run(rewritten, feeds)).y];
      assert.deepEqual(actual.dims, expected.dims);
      const scale = Math.max(...(expected.data as Float32Array).map(Math.abs));
      (actual.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - (expected.data as Float32Array)[i]) <= 1e-5 * scale, `y[${i}]: ${v} vs ${(expected.data as Float32Array)[i]}`));
    });
    it(`${c.name}: gradients by finite differences`, async () => {
      const { rewritten, dims } = lowered(c);
      await gradCheck({
        type: DataType.FLOAT,
        opset: c.opset,
        nodes: [...rewritten.graph.nodes],
        inputs: rewritten.graph.inputs.map((i) => ({ name: i.name!, dims: dims[i.name!] })),
        constants: [...rewritten.graph.initializers],
        output: 'y',
      });
    });
  }

  it('leaves Convs with more windows per sample, groups, and the providers that run whole batches', () => {
    const many = lowered({ name: '', x: [1, 2, 9, 9], w: [2, 2, 3, 3], y: [1, 2, 9, 9], attributes: { pads: [1, 1, 1, 1] } });
    assert.ok(many.rewritten.graph.nodes.some((n) => n.op_type === 'Conv'), '81 windows per sample');
    const grouped = lowered({ name: '', x: [1, 4, 2, 2], w: [4, 2, 3, 3], y: [1, 4, 2, 2], attributes: { pads: [1, 1, 1, 1], group: 2 } });
    assert.ok(grouped.rewritten.graph.nodes.some((n) => n.op_type === 'Conv'), 'group 2');
    assert.equal(loweringFor('webgpu').convMatMulWindows, 0);
    assert.equal(loweringFor('cuda').convMatMulWindows, 0);
  });

  it('trains a small CNN whose Convs all become MatMuls, with any batch size', async () => {
    const normal = seededNormal(3);
    const weights = (name: string, dims: number[]) => floatTensor(name, DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => 0.3 * normal()));
    const model = makeModel({
      opset: 17,
      inputs: [tensorInfo('x', DataType.FLOAT, ['N', 2, 4, 4])],
      outputs: [tensorInfo('logits', DataType.FLOAT, ['N', 3])],
      nodes: [
        makeNode('Conv', ['x', 'w1', 'b1'], ['c1'], { pads: [1, 1, 1, 1] }, 'conv1'),
        makeNode('Relu', ['c1'], ['r1']),
        makeNode('Conv', ['r1', 'w2', 'b2'], ['c2'], { pads: [1, 1, 1, 1], strides: [2, 2] }, 'conv2'),
        makeNode('Flatten', ['c2'], ['f']),
        makeNode('Gemm', ['f', 'w3', 'b3'], ['logits'], { transB: 1 }, 'fc'),
      ],
      initializers: [weights('w1', [4, 2, 3, 3]), weights('b1', [4]), weights('w2', [5, 4, 3, 3]), weights('b2', [5]), weights('w3', [3, 20]), weights('b3', [3])],
    });
    const batch = (rows: number) => ({ x: new runtime.Tensor('float32', Float32Array.from({ length: rows * 32 }, normal), [rows, 2, 4, 4]) });
    const trainer = await Trainer.create(model, [batch(2)], { runtime, optimizer: { kind: 'adam' } });
    try {
      const forward = trainer.graph.model.graph.nodes.filter((n) => !n.name?.startsWith('grad/'));
      assert.ok(!forward.some((n) => n.op_type === 'Conv'), 'both Convs lowered');
      const losses: number[] = [];
      for (const rows of [6, 6, 6, 4, 6, 6]) {
        const labels = Array.from({ length: rows }, (_, i) => i % 3);
        losses.push((await trainer.step(batch(rows), trainer.targetTensor(labels), { lr: 0.01 })).loss);
      }
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    } finally {
      await trainer.release();
    }
  });
});
