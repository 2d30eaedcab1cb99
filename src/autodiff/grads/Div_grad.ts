/** Div y = a/b: ∂a = dy/b, ∂b = −dy·y/b, each summed over its broadcast axes. */
import type { GradientRule } from '../rule';

export const divGradRule: GradientRule = {
  ops: ['Div'],
  grad(ctx) {
    const dy = ctx.dy()!;
    const [a, b, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
    const dyOverB = ctx.op('Div', [dy, b]);
    const da = ctx.wants(0) ? ctx.unbroadcast(dyOverB, a) : undefined;
    const db = ctx.wants(1) ? ctx.unbroadcast(ctx.op('Neg', [ctx.op('Mul', [dyOverB, y])]), b) : undefined;
    return [da, db];
  },
};
