/** Slice y = x[starts:ends:steps]: dx = zeros of x's shape with dy put back where it was taken from. */
import { intsAttribute } from '../../ir/attributes';
import { int64Tensor } from '../../tensor/values';
import type { GradContext, GradientRule } from '../rule';
import { normalizeAxis, zerosOfShape } from './shapes';

/**
 * With fixed bounds and sizes (opset < 10: bounds are attributes) a Pad; otherwise the same
 * Slice takes the flat positions out of a tensor 0…n−1 of x's shape and dy is scattered to
 * them, which is right for any bounds, steps and axes, also computed ones.
 */
export const sliceGradRule: GradientRule = {
  ops: ['Slice'],
  // starts, ends, axes, steps (inputs from opset 10)
  nonDifferentiable: [1, 2, 3, 4],
  grad(ctx) {
    const pads = ctx.opset < 10 ? staticPads(ctx) : undefined;
    if (pads) return [ctx.pad(ctx.dy()!, pads)];
    if (ctx.opset < 9) ctx.fail('a sliced axis varies in size; the scatter this needs takes opset 9');
    return [scatterBack(ctx)];
  },
};

/** The bounds of an attribute-form Slice (opset < 10); axes default to the first ones. */
function attributeBounds(ctx: GradContext): { starts: number[]; ends: number[]; axes: number[] } {
  const starts = intsAttribute(ctx.node, 'starts') ?? [];
  const ends = intsAttribute(ctx.node, 'ends') ?? [];
  return { starts, ends, axes: intsAttribute(ctx.node, 'axes') ?? starts.map((_, i) => i) };
}

/** Pads [begins…, ends…] that undo an attribute-form Slice, or undefined where a sliced axis varies in size. */
function staticPads(ctx: GradContext): number[] | undefined {
  const dims = ctx.dims(ctx.input(0));
  const { starts, ends, axes } = attributeBounds(ctx);
  const pads = new Array<number>(2 * dims.length).fill(0);
  for (let i = 0; i < axes.length; i++) {
    const axis = normalizeAxis(axes[i], dims.length);
    const dim = dims[axis];
    if (dim === null) return undefined;
    const clamp = (bound: number) => Math.min(Math.max(bound < 0 ? bound + dim : bound, 0), dim);
    const begin = clamp(starts[i]);
    const length = Math.max(clamp(ends[i]) - begin, 0);
    pads[axis] = begin;
    pads[dims.length + axis] = dim - begin - length;
  }
  return pads;
}

/** dx = zeros with dy scattered to the flat positions the forward Slice took (opset 9). */
function scatterBack(ctx: GradContext): string {
  const x = ctx.input(0);
  const shape = ctx.shapeOf(x);
  const flat = ctx.ints([-1], 'flat');
  const positions = ctx.op('Reshape', [flatPositions(ctx, x), shape], {}, 'positions');
  const taken = ctx.op('Slice', [positions, ...(ctx.node.input ?? []).slice(1)], ctx.opset < 10 ? attributeBounds(ctx) : {}, 'taken');
  const zeros = ctx.op('Reshape', [zerosOfShape(ctx, shape, x), flat]);
  const scatter = ctx.opset >= 11 ? 'ScatterElements' : 'Scatter';
  const scattered = ctx.op(scatter, [zeros, ctx.op('Reshape', [taken, flat]), ctx.op('Reshape', [ctx.dy()!, flat])], { axis: 0 });
  return ctx.op('Reshape', [scattered, shape]);
}

/** 0, 1, …, |x|−1: a Range from opset 11; before, the positions NonZero finds in |x| ones. */
function flatPositions(ctx: GradContext, x: string): string {
  const size = ctx.op('Size', [x]);
  if (ctx.opset >= 11) {
    const scalar = (value: number) => ctx.op('Constant', [], { value: int64Tensor('', [value], []) }, 'scalar');
    return ctx.op('Range', [scalar(0), size, scalar(1)]);
  }
  const ones = ctx.op('Expand', [ctx.ints([1], 'one'), ctx.op('Reshape', [size, ctx.ints([1], 'one_dim')])], {}, 'ones');
  return ctx.op('NonZero', [ones]);
}
