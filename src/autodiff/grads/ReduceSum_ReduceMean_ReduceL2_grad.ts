/** dy, y with the reduced axes put back, broadcast: ReduceSum dx = dy, ReduceMean dy/n, ReduceL2 x·dy/y (0 where y = 0, as PyTorch). */
import { intAttribute, intsAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';
import { mask } from './mask';
import { expandLike, normalizeAxis } from './shapes';
import { elementCount } from '../../tensor/values';

/** What a Reduce* node reduces: every axis, none (noop_with_empty_axes), listed axes, or axes given at runtime. */
type Reduced = { all: true } | { none: true } | { axes: number[] } | { input: string };

export const reduceGradRule: GradientRule = {
  ops: ['ReduceSum', 'ReduceMean', 'ReduceL2'],
  // the axes (an input from opset 13 for ReduceSum, 18 for the others)
  nonDifferentiable: [1],
  grad(ctx) {
    const [x, y] = [ctx.input(0), ctx.output(0)];
    const reduced = reducedAxes(ctx);
    if ('none' in reduced) return [ctx.dy()!];
    const keepdims = intAttribute(ctx.node, 'keepdims', 1) === 1;
    // put the reduced axes back; a full reduction's scalar broadcasts as it is
    const restore = (v: string) => {
      if (keepdims || 'all' in reduced) return v;
      if ('input' in reduced) return ctx.op('Unsqueeze', [v, reduced.input]);
      return ctx.unsqueeze(v, reduced.axes.map((a) => normalizeAxis(a, ctx.rank(x))).sort((a, b) => a - b));
    };
    const dy = restore(ctx.dy()!);
    switch (ctx.node.op_type) {
      case 'ReduceSum': return [expandLike(ctx, dy, x)];
      case 'ReduceMean': return [expandLike(ctx, ctx.op('Div', [dy, elementsPerMean(ctx)]), x)];
      default: {
        const norm = restore(y);
        const positive = mask(ctx, ctx.op('Greater', [norm, ctx.scalar(0, x)]), x);
        // y + (1 − [y > 0]): y where positive (exactly), 1 where 0, so the division is safe
        const safeNorm = ctx.op('Add', [norm, ctx.op('Sub', [ctx.scalar(1, x), positive])]);
        return [ctx.op('Mul', [x, ctx.op('Div', [ctx.op('Mul', [dy, positive]), safeNorm])])];
      }
    }
  },
};

/** Axes are an attribute before opset 13 (ReduceSum) or 18 (the others), an optional input after. */
function reducedAxes(ctx: GradContext): Reduced {
  const inputForm = ctx.opset >= (ctx.node.op_type === 'ReduceSum' ? 13 : 18);
  if (!inputForm) {
    const axes = intsAttribute(ctx.node, 'axes');
    return axes?.length ? { axes } : { all: true };
  }
  const input = ctx.input(1);
  if (input && ctx.dims(input)[0] !== 0) return { input };
  return intAttribute(ctx.node, 'noop_with_empty_axes', 0) === 1 ? { none: true } : { all: true };
}

/** n = |x| / |y| as a scalar of x's type: a constant where the sizes are fixed. */
function elementsPerMean(ctx: GradContext): string {
  const [x, y] = [ctx.input(0), ctx.output(0)];
  const [xDims, yDims] = [ctx.dims(x), ctx.dims(y)];
  if ([...xDims, ...yDims].every((d) => d !== null)) {
    return ctx.scalar(elementCount(xDims as number[]) / elementCount(yDims as number[]), x);
  }
  const size = (v: string) => ctx.op('Cast', [ctx.op('Size', [v])], { to: ctx.type(x) });
  return ctx.op('Div', [size(x), size(y)]);
}
