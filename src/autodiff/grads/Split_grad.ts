/** Split: dx = Concat of the outputs' gradients along the axis, zeros for outputs the loss does not use. */
import { intAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { zerosLike } from './shapes';

export const splitGradRule: GradientRule = {
  ops: ['Split'],
  // the split sizes (an input from opset 13)
  nonDifferentiable: [1],
  grad(ctx) {
    const pieces = (ctx.node.output ?? []).map((y, i) => ctx.dy(i) ?? zerosLike(ctx, y));
    return [ctx.op('Concat', pieces, { axis: intAttribute(ctx.node, 'axis', 0) })];
  },
};
