/** Cast: ∂x = dy cast back to x's type (the backward pass asks only for float inputs). */
import type { GradientRule } from '../rule';

export const castGradRule: GradientRule = {
  ops: ['Cast'],
  grad: (ctx) => [ctx.op('Cast', [ctx.dy()!], { to: ctx.type(ctx.input(0)) })],
};
