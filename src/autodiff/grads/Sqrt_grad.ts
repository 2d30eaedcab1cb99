/** Sqrt y = √x: ∂x = dy / (2y). */
import type { GradientRule } from '../rule';

export const sqrtGradRule: GradientRule = {
  ops: ['Sqrt'],
  grad(ctx) {
    const y = ctx.output(0);
    return [ctx.op('Div', [ctx.dy()!, ctx.op('Add', [y, y])])];
  },
};
