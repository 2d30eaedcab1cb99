/** Add, Sub: the output gradient, negated for Sub's second input, summed over broadcast axes. */
import type { GradientRule } from '../rule';

export const addGradRule: GradientRule = {
  ops: ['Add', 'Sub'],
  grad(ctx) {
    const dy = ctx.dy()!;
    const da = ctx.wants(0) ? ctx.unbroadcast(dy, ctx.input(0)) : undefined;
    const db = ctx.wants(1) ? ctx.unbroadcast(ctx.node.op_type === 'Sub' ? ctx.op('Neg', [dy]) : dy, ctx.input(1)) : undefined;
    return [da, db];
  },
};
