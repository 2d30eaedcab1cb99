/** Mul: ∂a = dy·b, ∂b = dy·a, each summed over its broadcast axes. */
import type { GradientRule } from '../rule';

export const mulGradRule: GradientRule = {
  ops: ['Mul'],
  grad(ctx) {
    const dy = ctx.dy()!;
    const [a, b] = [ctx.input(0), ctx.input(1)];
    const da = ctx.wants(0) ? ctx.unbroadcast(ctx.op('Mul', [dy, b]), a) : undefined;
    const db = ctx.wants(1) ? ctx.unbroadcast(ctx.op('Mul', [dy, a]), b) : undefined;
    return [da, db];
  },
};
