/** Erf: ∂x = dy·2/√π·exp(−x²). */
import type { GradientRule } from '../rule';

export const erfGradRule: GradientRule = {
  ops: ['Erf'],
  grad(ctx) {
    const x = ctx.input(0);
    const gaussian = ctx.op('Exp', [ctx.op('Neg', [ctx.op('Mul', [x, x])])]);
    return [ctx.op('Mul', [ctx.dy()!, ctx.op('Mul', [gaussian, ctx.scalar(2 / Math.sqrt(Math.PI), x)])])];
  },
};
