/** Where y = c ? a : b: ∂a = dy where c, ∂b = dy where not c, each summed over its broadcast axes. */
import type { GradientRule } from '../rule';

export const whereGradRule: GradientRule = {
  ops: ['Where'],
  nonDifferentiable: [0],
  grad(ctx) {
    const [condition, whenTrue, whenFalse] = [ctx.input(0), ctx.input(1), ctx.input(2)];
    const dy = ctx.dy()!;
    const zero = ctx.scalar(0, ctx.output(0));
    const dTrue = ctx.wants(1) ? ctx.unbroadcast(ctx.op('Where', [condition, dy, zero]), whenTrue) : undefined;
    const dFalse = ctx.wants(2) ? ctx.unbroadcast(ctx.op('Where', [condition, zero, dy]), whenFalse) : undefined;
    return [undefined, dTrue, dFalse];
  },
};
