/** Gradient rules of shape, indexing and reduction ops against finite differences. */
import * as assert from 'node:assert/strict';
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { int64Tensor as ints } from '../src/tensor/values';
import { createTensorProto } from '../src/onnx/codec';
import { buildBackward } from '../src/autodiff/backward';
import { probeValueTypes } from '../src/runtime/value-probe';
import { seededRandom } from '../src/tensor/random';
import { toTensor } from '../src/runtime/tensors';
import { gradCheck } from './helpers/gradcheck';
import { assertClose, run, runtime } from './support';
import { elementCount } from '../src/tensor/values';

describe('gradient rules: reshaping', () => {
  it('Reshape', async () => {
    await gradCheck({ nodes: [makeNode('Reshape', ['x', 'shape'], ['y'])], inputs: [{ name: 'x', dims: [2, 3, 4] }], constants: [ints('shape', [4, -1])] });
  });
  it('Flatten', async () => {
    await gradCheck({ nodes: [makeNode('Flatten', ['x'], ['y'], { axis: 2 })], inputs: [{ name: 'x', dims: [2, 3, 4] }] });
  });
  it('Squeeze at opset 11 (axes attribute) and 13 (axes input)', async () => {
    await gradCheck({ opset: 11, nodes: [makeNode('Squeeze', ['x'], ['y'], { axes: [-2] })], inputs: [{ name: 'x', dims: [2, 1, 3] }] });
    await gradCheck({ opset: 13, nodes: [makeNode('Squeeze', ['x', 'axes'], ['y'])], inputs: [{ name: 'x', dims: [2, 1, 3] }], constants: [ints('axes', [1])] });
  });
  it('Unsqueeze at opset 11 (axes attribute) and 13 (axes input)', async () => {
    await gradCheck({ opset: 11, nodes: [makeNode('Unsqueeze', ['x'], ['y'], { axes: [0, -1] })], inputs: [{ name: 'x', dims: [2, 3] }] });
    await gradCheck({ opset: 13, nodes: [makeNode('Unsqueeze', ['x', 'axes'], ['y'])], inputs: [{ name: 'x', dims: [2, 3] }], constants: [ints('axes', [1])] });
  });
  it('Transpose with a perm and with the default (reversed) one', async () => {
    await gradCheck({ nodes: [makeNode('Transpose', ['x'], ['y'], { perm: [2, 0, 1] })], inputs: [{ name: 'x', dims: [2, 3, 4] }] });
    await gradCheck({ nodes: [makeNode('Transpose', ['x'], ['y'])], inputs: [{ name: 'x', dims: [2, 3, 4] }] });
  });
  it('Expand with rank growth and a broadcast unit axis', async () => {
    await gradCheck({ nodes: [makeNode('Expand', ['x', 'shape'], ['y'])], inputs: [{ name: 'x', dims: [3, 1] }], constants: [ints('shape', [2, 3, 4])] });
  });
});

describe('gradient rules: Concat and Split', () => {
  for (const opset of [11, 13]) {
    it(`Concat of 3 inputs along a negative axis, opset ${opset}`, async () => {
      await gradCheck({
        opset,
        nodes: [makeNode('Concat', ['a', 'b', 'c'], ['y'], { axis: -2 })],
        inputs: [{ name: 'a', dims: [2, 1, 3] }, { name: 'b', dims: [2, 4, 3] }, { name: 'c', dims: [2, 2, 3] }],
      });
    });
  }
  it('Concat of the same input twice', async () => {
    await gradCheck({ nodes: [makeNode('Concat', ['a', 'a'], ['y'], { axis: 0 })], inputs: [{ name: 'a', dims: [2, 3] }] });
  });

  // y = a·c, the middle output unused (its gradient is zeros)
  const splitCases: { name: string; opset: number; width: number; split: NodeProto; constants?: TensorProto[] }[] = [
    { name: 'split attribute, opset 11', opset: 11, width: 5, split: makeNode('Split', ['x'], ['a', 'b', 'c'], { axis: -1, split: [2, 1, 2] }) },
    { name: 'split input, opset 13', opset: 13, width: 7, split: makeNode('Split', ['x', 'split'], ['a', 'b', 'c'], { axis: 1 }), constants: [ints('split', [2, 3, 2])] },
    { name: 'num_outputs, opset 18', opset: 18, width: 6, split: makeNode('Split', ['x'], ['a', 'b', 'c'], { axis: 1, num_outputs: 3 }) },
    { name: 'equal parts by default, opset 11', opset: 11, width: 6, split: makeNode('Split', ['x'], ['a', 'b', 'c'], { axis: 1 }) },
  ];
  for (const c of splitCases) {
    it(`Split (${c.name}) with an unused output`, async () => {
      await gradCheck({ opset: c.opset, nodes: [c.split, makeNode('Mul', ['a', 'c'], ['y'])], inputs: [{ name: 'x', dims: [2, c.width] }], constants: c.constants });
    });
  }
});

describe('gradient rules: Pad (constant mode)', () => {
  it('pads as an attribute: opset 7 (Slice attributes) and 10 (Slice inputs)', async () => {
    for (const opset of [7, 10]) {
      await gradCheck({ opset, nodes: [makeNode('Pad', ['x'], ['y'], { pads: [0, 2, 1, 0, 0, 3], value: { float: 0.5 } })], inputs: [{ name: 'x', dims: [2, 3, 4] }] });
    }
  });
  it('pads and constant_value as inputs (opset 13)', async () => {
    await gradCheck({
      opset: 13, nodes: [makeNode('Pad', ['x', 'pads', 'value'], ['y'])], inputs: [{ name: 'x', dims: [3, 2, 5] }],
      constants: [ints('pads', [0, 1, 3, 0, 0, 2]), createTensorProto({ name: 'value', data_type: DataType.DOUBLE, dims: [], double_data: [0.25] })],
    });
  });
  it('refuses reflect mode with the mode named', async () => {
    await assert.rejects(gradCheck({ opset: 13, nodes: [makeNode('Pad', ['x', 'pads'], ['y'], { mode: 'reflect' })], inputs: [{ name: 'x', dims: [2, 4] }], constants: [ints('pads', [0, 1, 0, 1])] }),
      /Pad mode "reflect" has no gradient rule/);
  });
});

describe('gradient rules: Slice', () => {
  it('opset 9 (attributes, Pad): negative start, end past the size, axes omitted', async () => {
    await gradCheck({ opset: 9, nodes: [makeNode('Slice', ['x'], ['y'], { starts: [1, -3], ends: [2, 100] })], inputs: [{ name: 'x', dims: [3, 5, 2] }] });
    await gradCheck({ opset: 9, nodes: [makeNode('Slice', ['x'], ['y'], { starts: [-2], ends: [-1], axes: [-1] })], inputs: [{ name: 'x', dims: [3, 5, 4] }] });
  });
  it('opset 10 (inputs, Scatter)', async () => {
    await gradCheck({
      opset: 10, nodes: [makeNode('Slice', ['x', 'starts', 'ends', 'axes', 'steps'], ['y'])], inputs: [{ name: 'x', dims: [4, 6] }],
      constants: [ints('starts', [5, 0]), ints('ends', [0, 3]), ints('axes', [1, 0]), ints('steps', [-2, 1])],
    });
  });
  const cases: { name: string; starts: number[]; ends: number[]; axes?: number[]; steps?: number[] }[] = [
    { name: 'step 2 and a negative axis', starts: [1], ends: [100], axes: [-1], steps: [2] },
    { name: 'negative step, reversing', starts: [-1, 3], ends: [-100, 0], axes: [0, 2], steps: [-1, -2] },
    { name: 'axes and steps omitted, negative bounds', starts: [-3, 1], ends: [-1, 3] },
    { name: 'empty result on one axis', starts: [2], ends: [2], axes: [1] },
  ];
  for (const c of cases) {
    it(`opset 13: ${c.name}`, async () => {
      const bounds: [string, number[] | undefined][] = [['starts', c.starts], ['ends', c.ends], ['axes', c.axes], ['steps', c.steps]];
      const given = bounds.filter((b): b is [string, number[]] => !!b[1]);
      await gradCheck({
        opset: 13,
        // flattened and concatenated with x, so that an empty slice still makes a loss
        nodes: [
          makeNode('Slice', ['x', ...given.map(([name]) => name)], ['s']),
          makeNode('Flatten', ['s'], ['s_flat'], { axis: 0 }), makeNode('Flatten', ['x'], ['x_flat'], { axis: 0 }),
          makeNode('Concat', ['s_flat', 'x_flat'], ['y'], { axis: 1 }),
        ],
        inputs: [{ name: 'x', dims: [4, 3, 5] }],
        constants: given.map(([name, values]) => ints(name, values)),
      });
    });
  }
});

describe('gradient rules: Gather', () => {
  // repeated indices accumulate; negative ones count from the back
  for (const opset of [9, 11, 16]) {
    it(`axis 0, repeated and negative indices, opset ${opset}`, async () => {
      await gradCheck({
        opset, nodes: [makeNode('Gather', ['x', 'indices'], ['y'])], inputs: [{ name: 'x', dims: [4, 3] }],
        constants: [ints('indices', [0, 2, -1, 0, 2, 2], [2, 3])],
      });
    });
    it(`axis 1 of a rank-3 value, repeated and negative indices, opset ${opset}`, async () => {
      await gradCheck({
        opset, nodes: [makeNode('Gather', ['x', 'indices'], ['y'], { axis: -2 })], inputs: [{ name: 'x', dims: [2, 3, 4] }],
        constants: [ints('indices', [1, -1, 1, 0])],
      });
    });
  }
  it('int32 indices', async () => {
    await gradCheck({
      nodes: [makeNode('Gather', ['x', 'indices'], ['y'])], inputs: [{ name: 'x', dims: [3, 2] }],
      constants: [createTensorProto({ name: 'indices', data_type: DataType.INT32, dims: [3], int32_data: [2, -3, 2] })],
    });
  });
  it('a scalar index', async () => {
    await gradCheck({ nodes: [makeNode('Gather', ['x', 'index'], ['y'], { axis: 1 })], inputs: [{ name: 'x', dims: [2, 3, 4] }], constants: [ints('index', [-2], [])] });
  });
});

describe('gradient rules: ReduceSum, ReduceMean, ReduceL2', () => {
  const x = [{ name: 'x', dims: [2, 3, 4] }];
  for (const keepdims of [0, 1]) {
    it(`ReduceSum keepdims=${keepdims}: opset 11 (axes attribute) and 13 (axes input), negative axes`, async () => {
      await gradCheck({ opset: 11, nodes: [makeNode('ReduceSum', ['x'], ['y'], { axes: [-1, 0], keepdims })], inputs: x });
      await gradCheck({ opset: 13, nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { keepdims })], inputs: x, constants: [ints('axes', [-1, 0])] });
    });
    for (const op of ['ReduceMean', 'ReduceL2']) {
      it(`${op} keepdims=${keepdims}: opset 13 (axes attribute) and 18 (axes input), negative axes`, async () => {
        await gradCheck({ opset: 13, nodes: [makeNode(op, ['x'], ['y'], { axes: [1, -1], keepdims })], inputs: x });
        await gradCheck({ opset: 18, nodes: [makeNode(op, ['x', 'axes'], ['y'], { keepdims })], inputs: x, constants: [ints('axes', [1, -1])] });
      });
    }
  }
  for (const op of ['ReduceSum', 'ReduceMean', 'ReduceL2']) {
    it(`${op} over all axes (axes omitted), keepdims 0 and 1, old and new opset`, async () => {
      for (const opset of [11, 18]) {
        for (const keepdims of [0, 1]) await gradCheck({ opset, nodes: [makeNode(op, ['x'], ['y'], { keepdims })], inputs: x });
      }
    });
  }
  it('ReduceSum with empty axes and noop_with_empty_axes', async () => {
    await gradCheck({ opset: 13, nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { noop_with_empty_axes: 1 })], inputs: x, constants: [ints('axes', [])] });
    await gradCheck({ opset: 13, nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { keepdims: 0 })], inputs: x, constants: [ints('axes', [])] });
  });
  it('ReduceSum at opset 7 (no Expand)', async () => {
    await gradCheck({ opset: 7, nodes: [makeNode('ReduceSum', ['x'], ['y'], { axes: [1], keepdims: 0 })], inputs: x });
  });
  it('ReduceL2: gradient 0 where the norm is 0', async () => {
    await gradCheck({
      opset: 13, nodes: [makeNode('ReduceL2', ['x'], ['y'], { axes: [1] })],
      inputs: [{ name: 'x', dims: [2, 3], values: [0, 0, 0, 0.5, -0.3, 0.8] }],
    });
  });
});

/**
 * Rules take other paths where a dim varies with the batch (runtime shapes, offsets, counts):
 * their gradients, with types probed at two batch sizes, must equal those of the fixed-shape
 * paths (checked against finite differences above).
 */
describe('gradient rules: dims that vary with the batch', () => {
  /** `op`: what only the varying-batch path emits (shows that it was taken). */
  interface VaryingCase { name: string; opset: number; nodes: NodeProto[]; inputs: { name: string; dims: number[] }[]; constants?: TensorProto[]; op: string }
  const cases: VaryingCase[] = [
    { name: 'Concat along the batch axis', opset: 13, nodes: [makeNode('Concat', ['a', 'b'], ['y'], { axis: 0 })], inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [2, 3] }], op: 'Slice' },
    { name: 'Slice of the batch axis at opset 9', opset: 9, nodes: [makeNode('Slice', ['x'], ['y'], { starts: [1, 1], ends: [-1, 3] })], inputs: [{ name: 'x', dims: [4, 4] }], op: 'Scatter' },
    { name: 'ReduceMean over the batch axis', opset: 13, nodes: [makeNode('ReduceMean', ['x'], ['y'], { axes: [0, 2], keepdims: 0 })], inputs: [{ name: 'x', dims: [3, 2, 4] }], op: 'Size' },
    { name: 'Gather along axis 1 at opset 11', opset: 11, nodes: [makeNode('Gather', ['x', 'indices'], ['y'], { axis: 1 })], inputs: [{ name: 'x', dims: [3, 4, 2] }], constants: [ints('indices', [3, 0, 3])], op: 'Gather' },
    { name: 'Gather along axis 1 at opset 16', opset: 16, nodes: [makeNode('Gather', ['x', 'indices'], ['y'], { axis: 1 })], inputs: [{ name: 'x', dims: [3, 4, 2] }], constants: [ints('indices', [3, 0, 3])], op: 'Gather' },
    { name: 'Split with an unused output', opset: 13, nodes: [makeNode('Split', ['x'], ['a', 'b'], { axis: 1 }), makeNode('Neg', ['a'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }], op: 'Shape' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const [fixed, varying] = [await gradients(c, [3]), await gradients(c, [3, 5])];
      assert.ok(varying.ops.includes(c.op) && !fixed.ops.includes(c.op), `only the varying-batch path emits ${c.op}: ${varying.ops} / ${fixed.ops}`);
      for (const name of Object.keys(fixed.grads)) assertClose(varying.grads[name], fixed.grads[name], 1e-12, 1e-12, `∂L/∂${name}`);
    });
  }

  /** Gradients at batch size `batches[0]`, the backward pass built on types probed at `batches`. */
  async function gradients(c: VaryingCase, batches: number[]): Promise<{ grads: Record<string, Float64Array>; ops: string[] }> {
    const output = c.nodes[c.nodes.length - 1].output![0];
    const model = makeModel({
      opset: c.opset,
      inputs: c.inputs.map((i) => tensorInfo(i.name, DataType.DOUBLE, ['batch', ...i.dims.slice(1)])),
      outputs: [{ name: output, type: { tensor_type: { elem_type: DataType.DOUBLE } } }],
      nodes: c.nodes,
      initializers: c.constants ?? [],
    });
    const feeds = (batch: number) => Object.fromEntries(c.inputs.map((i, k) => {
      const random = seededRandom(10 * batch + k);
      const dims = [batch, ...i.dims.slice(1)];
      return [i.name, toTensor(runtime, 'float64', Array.from({ length: elementCount(dims) }, () => random() - 0.5), dims)];
    }));
    const types = await probeValueTypes(runtime, model, batches.map(feeds));
    const wrt = c.inputs.map((i) => i.name);
    const backward = buildBackward(model, { seeds: new Map([[output, 'dL_dy']]), wrt, types });
    const gradModel = makeModel({
      opset: c.opset,
      inputs: [...model.graph.inputs, tensorInfo('dL_dy', DataType.DOUBLE, types.get(output)!.dims.map((d, i) => d ?? `dy${i}`))],
      outputs: wrt.map((name) => ({ name: backward.grads.get(name)!, type: { tensor_type: { elem_type: DataType.DOUBLE } } })),
      nodes: [...model.graph.nodes, ...backward.nodes],
      initializers: [...(c.constants ?? []), ...backward.initializers],
    });
    const forwardFeeds = feeds(batches[0]);
    const y = (await run(model, forwardFeeds))[output];
    const seed = toTensor(runtime, 'float64', Array.from({ length: y.data.length }, (_, i) => Math.sin(i + 1)), [...y.dims]);
    const results = await run(gradModel, { ...forwardFeeds, dL_dy: seed });
    const grads = Object.fromEntries(wrt.map((name) => [name, results[backward.grads.get(name)!].data as Float64Array]));
    return { grads, ops: backward.nodes.map((n) => n.op_type ?? '') };
  }
});
