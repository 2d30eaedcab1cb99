/** Reciprocal y = 1/x: ∂x = −dy·y². */
import type { GradientRule } from '../rule';

export const reciprocalGradRule: GradientRule = {
  ops: ['Reciprocal'],
  grad(ctx) {
    const y = ctx.output(0);
    return [ctx.op('Neg', [ctx.op('Mul', [ctx.dy()!, ctx.op('Mul', [y, y])])])];
  },
};
