/** Exp y = eˣ: ∂x = dy·y. */
import type { GradientRule } from '../rule';

export const expGradRule: GradientRule = {
  ops: ['Exp'],
  grad: (ctx) => [ctx.op('Mul', [ctx.dy()!, ctx.output(0)])],
};
