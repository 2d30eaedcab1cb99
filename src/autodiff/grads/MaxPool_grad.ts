/**
 * MaxPool y[o] = max over window o of x: ∂x = dy put on each window's argmax (the first, as
 * ONNX Runtime and PyTorch pick), read from the Indices output of the forward MaxPool, which
 * computes them as it goes. Windows that do not overlap take MaxUnpool (opset 11), which
 * writes dy there in one pass over zeros; overlapping ones need their values added where they
 * share an argmax, a ScatterElements with reduction (opset 16). Only Y is differentiable.
 */
import { intAttribute, intsAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { dilatedExtent, sameAttributes, windowSteps } from './conv-geometry';

export const maxPoolGradRule: GradientRule = {
  ops: ['MaxPool'],
  grad(ctx) {
    if (ctx.opset < 9) ctx.fail(`its gradient needs MaxPool's Indices output and Scatter (opset 9); upgrade the model's opset`);
    const x = ctx.input(0);
    const kernel = intsAttribute(ctx.node, 'kernel_shape') ?? [];
    const { strides, dilations } = windowSteps(ctx.node, kernel);
    const overlapping = kernel.some((k, i) => strides[i] < dilatedExtent(k, dilations[i]));
    const addsDuplicates = ctx.opset >= 16;
    if (overlapping && !addsDuplicates) {
      // without ScatterElements' reduction (opset 16) an element that is the max of two windows would get one dy, not both
      ctx.fail(`its windows overlap, and adding their gradients needs ScatterElements with reduction (opset 16); upgrade the model's opset to 16`);
    }
    // row-major indices address the flattened x; storage_order 1 numbers them column-major, so recompute those
    const indices = intAttribute(ctx.node, 'storage_order', 0) === 0
      ? ctx.forwardOutput(1, 'Indices')
      : ctx.multiOp('MaxPool', [x], 2, sameAttributes(ctx.node, ['storage_order']))[1];
    const signal = ctx.dims(x).slice(2);
    const windows = ctx.dims(ctx.output(0)).slice(2);
    if (!overlapping && ctx.opset >= 11 && [...signal, ...windows].every((d) => d !== null)) {
      // output_shape (opset 11) sizes the result like x. ONNX Runtime refuses one smaller than
      // (windows − 1)·stride + kernel − pads, where padding or ceil_mode reach past x; pads only
      // enter that check (the indices address x itself), so end pads make up the difference.
      const reach = kernel.map((k, i) => Math.max(0, (windows[i]! - 1) * strides[i] + k - signal[i]!));
      return [ctx.op('MaxUnpool', [ctx.dy()!, indices, ctx.shapeOf(x)], { kernel_shape: kernel, strides, pads: [...kernel.map(() => 0), ...reach] })];
    }
    const flat = (v: string) => ctx.op('Reshape', [v, ctx.ints([-1], 'flat')]);
    const zeros = ctx.op('Expand', [ctx.scalar(0, x), ctx.shape(x)], {}, 'zeros');
    const inputs = [flat(zeros), flat(indices), flat(ctx.dy()!)];
    const scattered = ctx.opset >= 11
      ? ctx.op('ScatterElements', inputs, { axis: 0, ...(addsDuplicates ? { reduction: 'add' } : {}) })
      : ctx.op('Scatter', inputs, { axis: 0 });
    return [ctx.reshapeLike(scattered, x)];
  },
};
