/**
 * MaxPool y[o] = max over window o of x: ∂x = dy scattered (added) onto each window's argmax,
 * found by re-running MaxPool with its Indices output. Only Y is differentiable.
 */
import { intsAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { dilatedExtent, sameAttributes, windowSteps } from './conv-geometry';

export const maxPoolGradRule: GradientRule = {
  ops: ['MaxPool'],
  grad(ctx) {
    if (ctx.opset < 9) ctx.fail(`its gradient needs MaxPool's Indices output and Scatter (opset 9); upgrade the model's opset`);
    const x = ctx.input(0);
    const addsDuplicates = ctx.opset >= 16;
    if (!addsDuplicates) {
      // without ScatterElements' reduction (opset 16) an element that is the max of two windows would get one dy, not both
      const kernel = intsAttribute(ctx.node, 'kernel_shape') ?? [];
      const { strides, dilations } = windowSteps(ctx.node, kernel);
      if (kernel.some((k, i) => strides[i] < dilatedExtent(k, dilations[i]))) {
        ctx.fail(`its windows overlap, and adding their gradients needs ScatterElements with reduction (opset 16); upgrade the model's opset to 16`);
      }
    }
    // storage_order 1 numbers the indices column-major; row-major ones address the flattened x
    const [, indices] = ctx.multiOp('MaxPool', [x], 2, sameAttributes(ctx.node, ['storage_order']));
    const flat = (v: string) => ctx.op('Reshape', [v, ctx.ints([-1], 'flat')]);
    const zeros = ctx.op('Expand', [ctx.scalar(0, x), ctx.shape(x)], {}, 'zeros');
    const inputs = [flat(zeros), flat(indices), flat(ctx.dy()!)];
    const scattered = ctx.opset >= 11
      ? ctx.op('ScatterElements', inputs, { axis: 0, ...(addsDuplicates ? { reduction: 'add' } : {}) })
      : ctx.op('Scatter', inputs, { axis: 0 });
    return [ctx.reshapeLike(scattered, x)];
  },
};
