/**
 * Pow y = aᵇ: ∂a = dy·b·aᵇ⁻¹, ∂b = dy·y·ln a (defined for a > 0), each summed over its
 * broadcast axes. From opset 12 the exponent may have another type (often an int constant).
 */
import type { GradientRule } from '../rule';

export const powGradRule: GradientRule = {
  ops: ['Pow'],
  grad(ctx) {
    const [a, b, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
    const dy = ctx.dy()!;
    const sameType = ctx.type(a) === ctx.type(b);
    let da: string | undefined;
    if (ctx.wants(0)) {
      const exponent = sameType ? b : ctx.op('Cast', [b], { to: ctx.type(a) });
      const slope = ctx.op('Mul', [exponent, ctx.op('Pow', [a, ctx.op('Sub', [exponent, ctx.scalar(1, a)])])]);
      da = ctx.unbroadcast(ctx.op('Mul', [dy, slope]), a);
    }
    let db: string | undefined;
    if (ctx.wants(1)) {
      const grad = ctx.op('Mul', [dy, ctx.op('Mul', [y, ctx.op('Log', [a])])]);
      db = ctx.unbroadcast(sameType ? grad : ctx.op('Cast', [grad], { to: ctx.type(b) }), b);
    }
    return [da, db];
  },
};
