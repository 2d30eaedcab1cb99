/** Log y = ln x: ∂x = dy / x. */
import type { GradientRule } from '../rule';

export const logGradRule: GradientRule = {
  ops: ['Log'],
  grad: (ctx) => [ctx.op('Div', [ctx.dy()!, ctx.input(0)])],
};
