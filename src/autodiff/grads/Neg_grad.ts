/** Neg: ∂x = −dy. */
import type { GradientRule } from '../rule';

export const negGradRule: GradientRule = {
  ops: ['Neg'],
  grad: (ctx) => [ctx.op('Neg', [ctx.dy()!])],
};
