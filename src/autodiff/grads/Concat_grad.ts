/** Concat y = [x₀, x₁, …] along an axis: dxᵢ = the slice of dy where xᵢ lies. */
import { intAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';
import { normalizeAxis } from './shapes';

export const concatGradRule: GradientRule = {
  ops: ['Concat'],
  grad(ctx) {
    const inputs = ctx.node.input ?? [];
    const axis = normalizeAxis(intAttribute(ctx.node, 'axis', 0), ctx.rank(ctx.output(0)));
    const sizes = inputs.map((x) => ctx.dims(x)[axis]);
    if (sizes.every((s) => s !== null)) return ctx.split(ctx.dy()!, sizes as number[], axis);
    return sliceAtRuntimeOffsets(ctx, axis);
  },
};

/** Some size varies with the batch: Slice each wanted piece at offsets summed from the inputs' shapes. */
function sliceAtRuntimeOffsets(ctx: GradContext, axis: number): (string | undefined)[] {
  if (ctx.opset < 10) ctx.fail(`the sizes along axis ${axis} vary with the batch; slicing at computed offsets needs opset 10`);
  const axes = ctx.ints([axis], 'axes');
  let start = ctx.ints([0], 'start');
  return (ctx.node.input ?? []).map((x, i) => {
    const end = ctx.op('Add', [start, ctx.shapeOf(x, [axis])], {}, 'end');
    const piece = ctx.wants(i) ? ctx.op('Slice', [ctx.dy()!, start, end, axes]) : undefined;
    start = end;
    return piece;
  });
}
