/**
 * Max, Min (variadic, broadcasting): the gradient goes to the inputs that equal the result
 * (to each of them on a tie), summed over the axes each was broadcast along. "x = y" is
 * written Not(Less(x, y)) for Max and Not(Greater(x, y)) for Min: float Equal needs opset 11.
 */
import type { GradientRule } from '../rule';

export const maxGradRule: GradientRule = {
  ops: ['Max', 'Min'],
  grad(ctx) {
    const y = ctx.output(0);
    const beyond = ctx.node.op_type === 'Max' ? 'Less' : 'Greater';
    return (ctx.node.input ?? []).map((x, i) => {
      if (!ctx.wants(i)) return undefined;
      const selected = ctx.op('Cast', [ctx.op('Not', [ctx.op(beyond, [x, y])])], { to: ctx.type(x) });
      return ctx.unbroadcast(ctx.op('Mul', [ctx.dy()!, selected]), x);
    });
  },
};
