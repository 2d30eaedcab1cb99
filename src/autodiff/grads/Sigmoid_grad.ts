/** Sigmoid y = σ(x): ∂x = dy·y·(1 − y). */
import type { GradientRule } from '../rule';

export const sigmoidGradRule: GradientRule = {
  ops: ['Sigmoid'],
  grad(ctx) {
    const y = ctx.output(0);
    const slope = ctx.op('Mul', [y, ctx.op('Sub', [ctx.scalar(1, y), y])]);
    return [ctx.op('Mul', [ctx.dy()!, slope])];
  },
};
