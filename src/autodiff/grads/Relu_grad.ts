/** Relu: dy where x > 0, else 0 (0 at x = 0, as PyTorch). */
import type { GradientRule } from '../rule';

export const reluGradRule: GradientRule = {
  ops: ['Relu'],
  grad(ctx) {
    const x = ctx.input(0);
    const positive = ctx.op('Cast', [ctx.op('Greater', [x, ctx.scalar(0, x)])], { to: ctx.type(x) });
    return [ctx.op('Mul', [ctx.dy()!, positive])];
  },
};
