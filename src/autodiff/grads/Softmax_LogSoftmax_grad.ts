/**
 * Softmax: ∂x = y·(dy − Σ dy·y); LogSoftmax: ∂x = dy − eʸ·Σ dy. The sums run over the op's
 * axes: before opset 13 every axis from `axis` on (default 1: the input taken as 2-D), from 13
 * the single axis `axis` (default −1).
 */
import { intAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';

export const softmaxGradRule: GradientRule = {
  ops: ['Softmax', 'LogSoftmax'],
  grad(ctx) {
    const y = ctx.output(0);
    const dy = ctx.dy()!;
    const axes = normalizedAxes(ctx);
    const sum = (v: string) => ctx.reduce('ReduceSum', v, axes, true);
    if (ctx.node.op_type === 'Softmax') return [ctx.op('Mul', [y, ctx.op('Sub', [dy, sum(ctx.op('Mul', [dy, y]))])])];
    return [ctx.op('Sub', [dy, ctx.op('Mul', [ctx.op('Exp', [y]), sum(dy)])])];
  },
};

/** The axes the forward op normalizes over, non-negative. */
function normalizedAxes(ctx: GradContext): number[] {
  const rank = ctx.rank(ctx.input(0));
  const coerced = ctx.opset < 13;
  const axis = intAttribute(ctx.node, 'axis', coerced ? 1 : -1);
  const first = axis < 0 ? axis + rank : axis;
  return coerced ? Array.from({ length: rank - first }, (_, i) => first + i) : [first];
}
