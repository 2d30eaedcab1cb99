/** Abs: ∂x = dy·sign(x) (0 at x = 0, as PyTorch). */
import type { GradientRule } from '../rule';
import { mask } from './mask';

export const absGradRule: GradientRule = {
  ops: ['Abs'],
  grad(ctx) {
    const x = ctx.input(0);
    const zero = ctx.scalar(0, x);
    // sign from masks: Sign needs opset 9
    const sign = ctx.op('Sub', [mask(ctx, ctx.op('Greater', [x, zero]), x), mask(ctx, ctx.op('Less', [x, zero]), x)]);
    return [ctx.op('Mul', [ctx.dy()!, sign])];
  },
};
