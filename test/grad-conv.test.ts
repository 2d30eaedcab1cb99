/** Gradient rules of convolution, pooling and normalization ops against finite differences (float32: ONNX Runtime's CPU kernels). */
import { DataType } from '../src/onnx/enums';
import { makeNode } from '../src/ir/make';
import type { AttributeValue } from '../src/ir/attributes';
import { gradCheck } from './helpers/gradcheck';

type Attributes = Record<string, AttributeValue | { float: number }>;

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  attributes?: Attributes;
  opset?: number;
}

/** Conv or ConvTranspose of x, w and a bias, all differentiated. */
async function checkConv(op: 'Conv' | 'ConvTranspose', c: ConvCase, bias: number): Promise<void> {
  await gradCheck({
    type: DataType.FLOAT,
    opset: c.opset,
    nodes: [makeNode(op, ['x', 'w', 'b'], ['y'], c.attributes)],
    inputs: [{ name: 'x', dims: c.x }, { name: 'w', dims: c.w }, { name: 'b', dims: [bias] }],
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
  ];
  for (const c of convs) {
    it(`Conv ${c.name}`, async () => { await checkConv('Conv', c, c.w[0]); });
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
    it(`ConvTranspose ${c.name}`, async () => { await checkConv('ConvTranspose', c, c.w[1] * Number(c.attributes?.group ?? 1)); });
  }
});
