/** Gradient rules of convolution, pooling and normalization ops against finite differences (float32: ONNX Runtime's CPU kernels). */
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { buildBackward } from '../src/autodiff/backward';
import { CPU_LOWERING, type Lowering } from '../src/autodiff/rule';
import type { AttributeValue } from '../src/ir/attributes';
import { seededRandom } from '../src/tensor/random';
import { elementCount } from '../src/tensor/values';
import type { NodeProto } from '../src/onnx/proto';
import { gradCheck } from './helpers/gradcheck';

type Attributes = Record<string, AttributeValue | { float: number }>;

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  attributes?: Attributes;
  opset?: number;
}

/** Conv's weight gradient without im2col: what a layer takes where its gathered windows pass the memory budget. */
const NO_IM2COL: Lowering = { ...CPU_LOWERING, im2colBytes: 0 };

/** Stride-1 input gradients by the reversed-kernel Conv at any size (by default only from 4,096 values per weight). */
const FLIPPED: Lowering = { ...CPU_LOWERING, flipMinValues: 0 };

/** Conv or ConvTranspose of x, w and a bias, all differentiated. */
async function checkConv(op: 'Conv' | 'ConvTranspose', c: ConvCase, bias: number, lowering?: Lowering): Promise<void> {
  await gradCheck({
    type: DataType.FLOAT,
    opset: c.opset,
    nodes: [makeNode(op, ['x', 'w', 'b'], ['y'], c.attributes)],
    inputs: [{ name: 'x', dims: c.x }, { name: 'w', dims: c.w }, { name: 'b', dims: [bias] }],
    lowering,
  });
}

describe('gradient rules: convolution', () => {
  const convs: ConvCase[] = [
    { name: '1-D', x: [2, 3, 7], w: [4, 3, 3] },
    { name: '2-D stride 2, size leaving a remainder', x: [2, 3, 7, 6], w: [4, 3, 3, 2], attributes: { strides: [2, 2] } },
    { name: '2-D stride 3, kernel 2 (unread tail)', x: [1, 2, 8, 7], w: [3, 2, 2, 2], attributes: { strides: [3, 3] } },
    { name: '2-D dilation 2', x: [2, 2, 7, 8], w: [3, 2, 3, 3], attributes: { dilations: [2, 2] } },
    { name: '2-D stride 2 dilation 2 asymmetric pads', x: [1, 2, 9, 8], w: [3, 2, 3, 2], attributes: { strides: [2, 2], dilations: [2, 1], pads: [1, 0, 2, 1] } },
    { name: '2-D group 2', x: [2, 4, 6, 5], w: [6, 2, 3, 3], attributes: { group: 2, pads: [1, 1, 1, 1] } },
    { name: '2-D depthwise stride 2', x: [2, 3, 7, 7], w: [6, 1, 3, 3], attributes: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
    { name: '2-D SAME_UPPER stride 2', x: [1, 2, 6, 7], w: [3, 2, 3, 3], attributes: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
    { name: '2-D SAME_LOWER stride 2', x: [1, 2, 6, 7], w: [3, 2, 3, 3], attributes: { auto_pad: 'SAME_LOWER', strides: [2, 2] } },
    { name: '2-D VALID stride 2', x: [1, 2, 7, 6], w: [3, 2, 3, 3], attributes: { auto_pad: 'VALID', strides: [2, 2] } },
    { name: '3-D stride 2 pads group 2', x: [2, 2, 5, 4, 5], w: [4, 1, 2, 3, 2], attributes: { group: 2, strides: [2, 1, 2], pads: [1, 0, 0, 0, 1, 1] } },
    { name: '2-D at opset 7', x: [1, 2, 7, 6], w: [3, 2, 3, 3], attributes: { strides: [2, 2], pads: [0, 1, 1, 0] }, opset: 7 },
    // stride 1: ∂x is a Conv with the kernel reversed (FLIPPED, below), except where a pad exceeds the dilated kernel
    { name: '2-D stride 1 asymmetric pads dilation (2, 1)', x: [2, 2, 7, 6], w: [3, 2, 3, 2], attributes: { dilations: [2, 1], pads: [2, 0, 1, 1] } },
    { name: '3-D depthwise stride 1 pads', x: [1, 3, 4, 5, 3], w: [3, 1, 2, 3, 2], attributes: { group: 3, pads: [1, 1, 0, 0, 1, 1] } },
    { name: '2-D SAME_UPPER stride 1 even kernel', x: [1, 2, 5, 6], w: [2, 2, 2, 4], attributes: { auto_pad: 'SAME_UPPER' } },
    { name: '2-D stride 1 pads wider than the kernel', x: [1, 2, 4, 4], w: [2, 2, 2, 2], attributes: { pads: [2, 1, 2, 3] } },
    { name: '2-D stride 1 pads at opset 7', x: [1, 2, 5, 4], w: [2, 2, 3, 3], attributes: { pads: [1, 1, 1, 1] }, opset: 7 },
    { name: '2-D one input channel (∂W split into runs of windows), pads', x: [2, 1, 8, 6], w: [4, 1, 3, 3], attributes: { pads: [1, 1, 1, 1] } },
  ];
  for (const c of convs) {
    it(`Conv ${c.name}`, async () => { await checkConv('Conv', c, c.w[0]); });
    it(`Conv ${c.name}, ∂W without im2col`, async () => { await checkConv('Conv', c, c.w[0], NO_IM2COL); });
    it(`Conv ${c.name}, ∂x by the reversed-kernel Conv where stride 1 allows it`, async () => { await checkConv('Conv', c, c.w[0], FLIPPED); });
  }

  const convTransposes: ConvCase[] = [
    { name: '1-D', x: [2, 3, 5], w: [3, 2, 3] },
    { name: '2-D stride 2 asymmetric pads output_padding', x: [2, 3, 4, 3], w: [3, 2, 3, 2], attributes: { strides: [2, 2], pads: [1, 0, 0, 1], output_padding: [1, 0] } },
    { name: '2-D dilation 2', x: [1, 2, 4, 5], w: [2, 3, 3, 3], attributes: { dilations: [2, 2] } },
    { name: '2-D dilation 3 stride 2 output_padding', x: [1, 2, 4, 3], w: [2, 2, 3, 2], attributes: { strides: [2, 2], dilations: [3, 3], output_padding: [1, 0] } },
    { name: '2-D group 2 stride 2', x: [2, 4, 3, 4], w: [4, 3, 3, 3], attributes: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] } },
    { name: '2-D depthwise', x: [2, 3, 4, 4], w: [3, 1, 3, 3], attributes: { group: 3, strides: [2, 1] } },
    { name: '2-D output_shape (odd trim)', x: [1, 2, 3, 4], w: [2, 3, 3, 3], attributes: { strides: [2, 2], output_shape: [6, 8] } },
    { name: '2-D SAME_UPPER stride 2', x: [1, 2, 3, 4], w: [2, 3, 3, 2], attributes: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
    { name: '2-D SAME_LOWER stride 2 output_padding', x: [1, 2, 3, 4], w: [2, 3, 3, 3], attributes: { auto_pad: 'SAME_LOWER', strides: [2, 2], output_padding: [1, 0] } },
    { name: '2-D VALID', x: [1, 2, 3, 4], w: [2, 3, 2, 3], attributes: { auto_pad: 'VALID', strides: [2, 1] } },
    { name: '3-D stride 2 group 2', x: [2, 2, 3, 2, 3], w: [2, 2, 2, 3, 2], attributes: { group: 2, strides: [2, 1, 2], pads: [0, 1, 1, 1, 0, 0] } },
    { name: '2-D at opset 7', x: [1, 2, 3, 4], w: [2, 2, 3, 3], attributes: { strides: [2, 2], pads: [1, 0, 0, 1] }, opset: 7 },
  ];
  for (const c of convTransposes) {
    const bias = c.w[1] * Number(c.attributes?.group ?? 1);
    it(`ConvTranspose ${c.name}`, async () => { await checkConv('ConvTranspose', c, bias); });
    it(`ConvTranspose ${c.name}, ∂W without im2col`, async () => { await checkConv('ConvTranspose', c, bias, NO_IM2COL); });
  }

  /** The op types of the backward pass of a 3×3 Conv of x [2, 3, 8, 8] for the gradient of `wrt`, under `lowering`'s settings. */
  function backwardOps(wrt: string, lowering: Partial<Lowering>): string[] {
    const model = makeModel({
      opset: 17,
      inputs: [tensorInfo('x', DataType.FLOAT, [2, 3, 8, 8]), tensorInfo('w', DataType.FLOAT, [4, 3, 3, 3])],
      outputs: [tensorInfo('y', DataType.FLOAT, [2, 4, 6, 6])],
      nodes: [makeNode('Conv', ['x', 'w'], ['y'])],
      initializers: [],
    });
    const dims: [string, number[]][] = [['x', [2, 3, 8, 8]], ['w', [4, 3, 3, 3]], ['y', [2, 4, 6, 6]]];
    const types = new Map(dims.map(([name, d]) => [name, { type: DataType.FLOAT, dims: d }]));
    return buildBackward(model, { seeds: new Map([['y', 'dy']]), wrt: [wrt], types, lowering: { ...CPU_LOWERING, ...lowering } })
      .nodes.map((n) => n.op_type!);
  }

  it('takes the reversed-kernel Conv for a stride-1 ∂x from the lowering\'s flipMinValues', () => {
    const ops = (flipMinValues: number) => backwardOps('x', { flipMinValues });
    // 2 samples · 36 windows
    assert.ok(ops(72).includes('Conv') && !ops(72).includes('ConvTranspose'));
    assert.ok(ops(73).includes('ConvTranspose') && !ops(73).includes('Conv'));
  });

  it('lays out im2col only where its bytes stay within the lowering\'s im2colBytes', () => {
    // 3 channels · 9 kernel offsets · 36 windows · 2 samples · 4 bytes
    const windowBytes = 3 * 9 * 36 * 2 * 4;
    const ops = (im2colBytes: number) => backwardOps('w', { im2colBytes });
    assert.ok(ops(windowBytes).includes('Gather') && !ops(windowBytes).includes('Conv'));
    assert.ok(ops(windowBytes - 1).includes('Conv') && !ops(windowBytes - 1).includes('Gather'));
  });
});

interface PoolCase {
  name: string;
  x: number[];
  attributes: Attributes;
  opset?: number;
}

/** `count` values 0.05 apart in random order: no two within a finite-difference step of each other, so no argmax flips. */
function distinctValues(count: number, seed = 5): number[] {
  const random = seededRandom(seed);
  const values = Array.from({ length: count }, (_, i) => (i - count / 2) * 0.05);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

async function checkPool(op: string, c: PoolCase, values?: number[]): Promise<void> {
  await gradCheck({
    type: DataType.FLOAT,
    opset: c.opset,
    nodes: [makeNode(op, ['x'], ['y'], c.attributes)],
    inputs: [{ name: 'x', dims: c.x, values }],
  });
}

describe('gradient rules: pooling', () => {
  const maxPools: PoolCase[] = [
    { name: '2-D 2x2 stride 2 at opset 11 (MaxUnpool)', x: [2, 3, 6, 5], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, opset: 11 },
    { name: '2-D 2x2 stride 2 pads and a remainder at opset 13 (MaxUnpool)', x: [2, 2, 5, 7], attributes: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 0, 0, 0] }, opset: 13 },
    { name: '2-D 2x2 stride 2 ceil_mode at opset 17 (MaxUnpool)', x: [1, 2, 5, 5], attributes: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, opset: 17 },
    { name: '2-D 2x2 stride 2 storage_order 1 (indices recomputed row-major)', x: [2, 2, 4, 6], attributes: { kernel_shape: [2, 2], strides: [2, 2], storage_order: 1 }, opset: 12 },
    { name: '2-D 2x2 dilation 2 stride 3 at opset 12 (MaxUnpool)', x: [1, 2, 7, 8], attributes: { kernel_shape: [2, 2], dilations: [2, 2], strides: [3, 3] }, opset: 12 },
    { name: '2-D 2x2 stride 2 pads at opset 10 (Scatter)', x: [2, 2, 5, 5], attributes: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 10 },
    { name: '1-D 3 stride 3 at opset 12', x: [2, 3, 10], attributes: { kernel_shape: [3], strides: [3] }, opset: 12 },
    { name: '2-D 3x3 stride 1 pads (overlapping)', x: [2, 2, 5, 6], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, opset: 16 },
    { name: '2-D 3x3 stride 2 ceil_mode pads', x: [1, 3, 6, 7], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 }, opset: 17 },
    { name: '2-D 2x2 dilation 2', x: [1, 2, 6, 6], attributes: { kernel_shape: [2, 2], dilations: [2, 2] }, opset: 17 },
    { name: '2-D SAME_UPPER stride 2', x: [1, 2, 6, 7], attributes: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }, opset: 18 },
    { name: '1-D 3 stride 2 ceil_mode', x: [2, 2, 8], attributes: { kernel_shape: [3], strides: [2], ceil_mode: 1 }, opset: 16 },
  ];
  for (const c of maxPools) {
    it(`MaxPool ${c.name}`, async () => { await checkPool('MaxPool', c, distinctValues(elementCount(c.x))); });
  }
  it('MaxPool with overlapping windows before opset 16 asks for opset 16', async () => {
    await assert.rejects(checkPool('MaxPool', { name: '', x: [1, 1, 5, 5], attributes: { kernel_shape: [3, 3], strides: [2, 2] }, opset: 13 }),
      /windows overlap.*upgrade the model's opset to 16/);
  });
  it('MaxPool before opset 9 asks for a newer opset', async () => {
    await assert.rejects(checkPool('MaxPool', { name: '', x: [1, 1, 4, 4], attributes: { kernel_shape: [2, 2], strides: [2, 2] }, opset: 8 }),
      /opset 9/);
  });

  // the activation's derivative taken on the pooled maxima (a quarter of x here), its own rule passing the result on
  const activations: [string, number?][] = [['Relu'], ['LeakyRelu', 0.1], ['LeakyRelu', -0.5]];
  for (const [op, alpha] of activations) {
    it(`${op}${alpha === undefined ? '' : ` alpha ${alpha}`} then MaxPool: the gradient of the two rules apart, bit for bit`, async () => {
      const attributes: Attributes = alpha === undefined ? {} : { alpha: { float: alpha } };
      const dims = [2, 3, 6, 5];
      // off the kink at 0, where finite differences straddle it
      const values = distinctValues(elementCount(dims)).map((v) => v + 0.025);
      const pool = makeNode('MaxPool', ['a'], ['y'], { kernel_shape: [2, 2], strides: [2, 2] });
      // float32: ONNX Runtime's MaxUnpool has no float64 kernel
      const check = (nodes: NodeProto[]) => gradCheck({ type: DataType.FLOAT, nodes, inputs: [{ name: 'x', dims, values }], opset: 17 });
      const together = await check([makeNode(op, ['x'], ['a'], attributes, 'act'), pool]);
      // an Identity between them hides the activation from MaxPool's rule
      const apart = await check([makeNode(op, ['x'], ['h'], attributes, 'act'), makeNode('Identity', ['h'], ['a']), pool]);
      assert.deepEqual(Array.from(together.grads.get('x')!), Array.from(apart.grads.get('x')!));
      const activationNodes = (r: { nodes: NodeProto[] }) => r.nodes.filter((n) => n.name?.includes('act/')).length;
      assert.ok(activationNodes(apart) > 0, 'the activation\'s rule masks x-sized values apart');
      const fused = (alpha ?? 0) >= 0;
      assert.equal(activationNodes(together) === 0, fused, fused ? 'the activation\'s rule passes the pooled gradient on' : 'a negative slope is not a function of y');
    });
  }

  const averagePools: PoolCase[] = [
    { name: '2-D 2x2 stride 2 (windows inside x)', x: [2, 3, 6, 5], attributes: { kernel_shape: [2, 2], strides: [2, 2] } },
    { name: '2-D 3x3 stride 2 pads count_include_pad 0', x: [2, 2, 7, 6], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 0 } },
    { name: '2-D 3x3 stride 2 pads count_include_pad 1', x: [2, 2, 7, 6], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
    { name: '2-D 3x2 ceil_mode asymmetric pads count_include_pad 0', x: [1, 2, 6, 7], attributes: { kernel_shape: [3, 2], strides: [2, 2], pads: [0, 1, 1, 0], ceil_mode: 1 } },
    { name: '2-D 3x2 ceil_mode asymmetric pads count_include_pad 1', x: [1, 2, 6, 7], attributes: { kernel_shape: [3, 2], strides: [2, 2], pads: [0, 1, 1, 0], ceil_mode: 1, count_include_pad: 1 } },
    { name: '1-D ceil_mode with a window past the input', x: [2, 2, 6], attributes: { kernel_shape: [2], strides: [3], ceil_mode: 1 } },
    { name: '2-D SAME_UPPER stride 2', x: [1, 2, 6, 7], attributes: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
    { name: '2-D SAME_LOWER stride 2 count_include_pad 1', x: [1, 2, 6, 7], attributes: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_LOWER', count_include_pad: 1 } },
    { name: '2-D dilation 2 pads at opset 19', x: [1, 2, 7, 6], attributes: { kernel_shape: [2, 2], dilations: [2, 2], pads: [1, 0, 1, 1] }, opset: 19 },
    { name: '3-D stride 2 pads', x: [1, 2, 5, 4, 5], attributes: { kernel_shape: [2, 2, 3], strides: [2, 2, 2], pads: [1, 0, 1, 0, 1, 1] } },
    { name: '2-D pads at opset 7', x: [1, 2, 5, 6], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, opset: 7 },
    { name: '2-D 3x3 stride 1 pads count_include_pad 0', x: [2, 2, 5, 4], attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
  ];
  for (const c of averagePools) {
    it(`AveragePool ${c.name}`, async () => { await checkPool('AveragePool', c); });
  }
  it('AveragePool with SAME padding and dilations says why not', async () => {
    await assert.rejects(checkPool('AveragePool', { name: '', x: [1, 1, 7, 6], attributes: { kernel_shape: [3, 2], dilations: [2, 2], auto_pad: 'SAME_UPPER' }, opset: 19 }),
      /dilations/);
  });

  for (const [x, opset] of [[[2, 3, 4, 5], 17], [[2, 3, 6], 17], [[1, 2, 3, 2, 4], 17], [[2, 3, 4, 5], 7]] as [number[], number][]) {
    it(`GlobalAveragePool [${x}] at opset ${opset}`, async () => { await checkPool('GlobalAveragePool', { name: '', x, attributes: {}, opset }); });
  }
});

describe('gradient rules: normalization', () => {
  const statistics = (c: number) => [{ name: 'scale', dims: [c] }, { name: 'bias', dims: [c] }];
  /** Running mean and variance: fixed (not differentiated), the variance positive. */
  const running = (c: number) => [{ name: 'mean', dims: [c] }, { name: 'var', dims: [c], values: Array.from({ length: c }, (_, i) => 0.5 + 0.3 * i) }];
  const batchNorm = (x: number[], opset: number, attributes: Attributes = {}, outputs = ['y']) => gradCheck({
    opset,
    nodes: [makeNode('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], outputs, { epsilon: { float: 1e-3 }, ...attributes })],
    inputs: [{ name: 'x', dims: x }, ...statistics(x[1]), ...running(x[1])],
    wrt: ['x', 'scale', 'bias'],
  });

  for (const opset of [7, 9, 15]) {
    it(`BatchNormalization (running statistics) [2,3,4,5] at opset ${opset}`, async () => { await batchNorm([2, 3, 4, 5], opset); });
  }
  it('BatchNormalization (running statistics) [4,3]', async () => { await batchNorm([4, 3], 15); });
  it('BatchNormalization training_mode=1 [3,2,4,3] at opset 15', async () => {
    await batchNorm([3, 2, 4, 3], 15, { training_mode: 1 }, ['y', 'running_mean', 'running_var']);
  });
  it('BatchNormalization training_mode=1 [6,3] at opset 15', async () => {
    await batchNorm([6, 3], 15, { training_mode: 1 }, ['y', 'running_mean', 'running_var']);
  });
  it('BatchNormalization in training mode by its outputs at opset 9 [2,3,5]', async () => {
    await batchNorm([2, 3, 5], 9, {}, ['y', 'running_mean', 'running_var', 'saved_mean', 'saved_var']);
  });
  it('BatchNormalization spatial=0 says why not', async () => {
    await assert.rejects(batchNorm([2, 3], 7, { spatial: 0 }), /spatial=0/);
  });

  const layerNorms: { x: number[]; axis: number; scale: number[]; bias?: number[] }[] = [
    { x: [2, 3, 4], axis: -1, scale: [4], bias: [4] },
    { x: [2, 3, 4], axis: 1, scale: [3, 4], bias: [3, 4] },
    { x: [3, 5], axis: -1, scale: [5] },
    { x: [2, 3, 4], axis: 1, scale: [1, 4], bias: [4] },
  ];
  for (const c of layerNorms) {
    it(`LayerNormalization [${c.x}] axis ${c.axis} scale [${c.scale}]${c.bias ? ` bias [${c.bias}]` : ''}`, async () => {
      await gradCheck({
        nodes: [makeNode('LayerNormalization', ['x', 'scale', ...(c.bias ? ['bias'] : [])], ['y'], { axis: c.axis, epsilon: { float: 1e-3 } })],
        inputs: [{ name: 'x', dims: c.x }, { name: 'scale', dims: c.scale }, ...(c.bias ? [{ name: 'bias', dims: c.bias }] : [])],
      });
    });
  }
});
