/**
 * Pad in constant mode: dx = the part of dy where x was, dy[pads_begin : pads_begin + dims(x)].
 * Pads are an attribute before opset 11 (the ends then count back from the end of dy, so no dim
 * of x needs to be fixed) and an input from 11 (ends = pads_begin + Shape(x)).
 */
import type { GradientRule } from '../rule';
import { intsAttribute } from '../../ir/attributes';

const INT64_MAX = Number.MAX_SAFE_INTEGER;

export const padGradRule: GradientRule = {
  ops: ['Pad'],
  // pads, constant_value, axes (inputs from opset 11 / 18)
  nonDifferentiable: [1, 2, 3],
  grad(ctx) {
    const modeAttribute = ctx.node.attribute?.find((a) => a.name === 'mode')?.s;
    const mode = modeAttribute ? new TextDecoder().decode(modeAttribute) : 'constant';
    if (mode !== 'constant') ctx.fail(`Pad mode "${mode}" has no gradient rule; only mode "constant" does`);
    if (ctx.hasInput(3)) ctx.fail('Pad with an axes input has no gradient rule; pad every axis');
    const dy = ctx.dy()!;
    const rank = ctx.rank(ctx.input(0));
    if (ctx.opset < 11) {
      const pads = intsAttribute(ctx.node, 'pads') ?? [];
      if (pads.some((p) => p < 0)) ctx.fail('negative pads (cropping) have no gradient rule');
      const ends = pads.slice(rank).map((p) => (p > 0 ? -p : INT64_MAX));
      const starts = pads.slice(0, rank);
      const axes = starts.map((_, i) => i);
      if (ctx.opset < 10) return [ctx.op('Slice', [dy], { starts, ends, axes })];
      return [ctx.op('Slice', [dy, ctx.ints(starts, 'starts'), ctx.ints(ends, 'ends'), ctx.ints(axes, 'axes')])];
    }
    const begins = ctx.op('Slice', [ctx.input(1), ctx.ints([0], 'zero'), ctx.ints([rank], 'rank')], {}, 'pads_begin');
    const ends = ctx.op('Add', [begins, ctx.shape(ctx.input(0))], {}, 'ends');
    return [ctx.op('Slice', [dy, begins, ends])];
  },
};
