/** Expand y = broadcast(x, shape): dx = dy summed over the axes x was broadcast along. */
import type { GradientRule } from '../rule';

export const expandGradRule: GradientRule = {
  ops: ['Expand'],
  nonDifferentiable: [1],
  grad: (ctx) => [ctx.unbroadcast(ctx.dy()!, ctx.input(0))],
};
