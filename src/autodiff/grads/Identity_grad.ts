/** Identity: the gradient passes unchanged. */
import type { GradientRule } from '../rule';

export const identityGradRule: GradientRule = {
  ops: ['Identity'],
  grad: (ctx) => [ctx.dy()],
};
