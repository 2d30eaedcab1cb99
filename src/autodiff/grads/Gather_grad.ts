/** Gather y = x.take(indices, axis): dx = zeros of x's shape plus dy at the gathered positions (repeats add up). */
import { intAttribute } from '../../ir/attributes';
import { DataType } from '../../onnx/enums';
import type { GradContext, GradientRule } from '../rule';
import { inversePermutation, normalizeAxis, zerosOfShape } from './shapes';

/**
 * From opset 16 a ScatterND with reduction 'add'; before, onehot(indices)ᵀ·dy as a MatMul.
 * Both work on x and dy with the gathered axes moved to the front.
 */
export const gatherGradRule: GradientRule = {
  ops: ['Gather'],
  nonDifferentiable: [1],
  grad(ctx) {
    if (ctx.opset < 9) ctx.fail('accumulating at the gathered positions needs opset 9 (OneHot)');
    const x = ctx.input(0);
    const rank = ctx.rank(x);
    const axis = normalizeAxis(intAttribute(ctx.node, 'axis', 0), rank);
    let indices = ctx.type(ctx.input(1)) === DataType.INT64 ? ctx.input(1) : ctx.op('Cast', [ctx.input(1)], { to: DataType.INT64 });
    let dy = ctx.dy()!;
    if (ctx.rank(ctx.input(1)) === 0) {
      // a scalar index is a one-element list whose axis y dropped
      indices = ctx.unsqueeze(indices, [0]);
      dy = ctx.unsqueeze(dy, [axis]);
    }
    const indexRank = Math.max(ctx.rank(ctx.input(1)), 1);
    // dy as [index axes…, x's other axes…]; x as [axis, other axes…]
    const indexAxes = [...Array(indexRank).keys()].map((i) => axis + i);
    const dyOrder = [...indexAxes, ...[...Array(rank - 1 + indexRank).keys()].filter((a) => !indexAxes.includes(a))];
    const dyFront = axis === 0 ? dy : ctx.op('Transpose', [dy], { perm: dyOrder });
    const xOrder = [axis, ...[...Array(rank).keys()].filter((a) => a !== axis)];
    const xFrontShape = ctx.shapeOf(x, xOrder);
    const dxFront = ctx.opset >= 16
      ? ctx.op('ScatterND', [zerosOfShape(ctx, xFrontShape, x), ctx.unsqueeze(indices, [indexRank]), dyFront], { reduction: 'add' })
      : oneHotProduct(ctx, indices, dyFront, indexRank, axis, xFrontShape);
    return [axis === 0 ? dxFront : ctx.op('Transpose', [dxFront], { perm: inversePermutation(xOrder) })];
  },
};

/** onehot(indices)ᵀ·dy: [size, n]·[n, rest], reshaped to x's shape with the axis first (opset 9). */
function oneHotProduct(ctx: GradContext, indices: string, dyFront: string, indexRank: number, axis: number, xFrontShape: string): string {
  const x = ctx.input(0);
  const depth = ctx.shapeOf(x, [axis]);
  let flatIndices = ctx.op('Reshape', [indices, ctx.ints([-1], 'flat')]);
  // OneHot counts negative indices from the back only from opset 11
  if (ctx.opset < 11) {
    const negative = ctx.op('Less', [flatIndices, ctx.ints([0], 'zero')]);
    flatIndices = ctx.op('Where', [negative, ctx.op('Add', [flatIndices, depth]), flatIndices]);
  }
  // int64 one-hot, then Cast: ONNX Runtime has OneHot for few output types
  const oneHot = ctx.op('OneHot', [flatIndices, depth, ctx.ints([0, 1], 'off_on')], { axis: 0 });
  const product = ctx.op('MatMul', [ctx.op('Cast', [oneHot], { to: ctx.type(x) }), ctx.op('Flatten', [dyFront], { axis: indexRank })]);
  return ctx.op('Reshape', [product, xFrontShape]);
}
