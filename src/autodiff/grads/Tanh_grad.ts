/** Tanh y = tanh(x): ∂x = dy·(1 − y²). */
import type { GradientRule } from '../rule';

export const tanhGradRule: GradientRule = {
  ops: ['Tanh'],
  grad(ctx) {
    const y = ctx.output(0);
    const slope = ctx.op('Sub', [ctx.scalar(1, y), ctx.op('Mul', [y, y])]);
    return [ctx.op('Mul', [ctx.dy()!, slope])];
  },
};
