/**
 * MatMul y = a·b (numpy semantics: batched, broadcast batch axes, 1-D operands promoted):
 * ∂a = dy·bᵀ, ∂b = aᵀ·dy, summed over the batch axes each operand was broadcast along.
 */
import type { GradientRule } from '../rule';

export const matMulGradRule: GradientRule = {
  ops: ['MatMul'],
  grad(ctx) {
    const [a, b, y] = [ctx.input(0), ctx.input(1), ctx.output(0)];
    const aDims = ctx.dims(a);
    const bDims = ctx.dims(b);
    // promote 1-D operands (and the output axes they dropped) to matrices
    const a2 = aDims.length === 1 ? ctx.unsqueeze(a, [0]) : a;
    const b2 = bDims.length === 1 ? ctx.unsqueeze(b, [1]) : b;
    const a2Dims = aDims.length === 1 ? [1, aDims[0]] : aDims;
    const b2Dims = bDims.length === 1 ? [bDims[0], 1] : bDims;
    let dy = ctx.dy()!;
    const yDims = [...ctx.dims(y)];
    if (aDims.length === 1) { yDims.splice(yDims.length - (bDims.length === 1 ? 0 : 1), 0, 1); }
    if (bDims.length === 1) yDims.push(1);
    if (aDims.length === 1 || bDims.length === 1) dy = ctx.unsqueeze(dy, unsqueezedAxes(aDims.length, bDims.length, yDims.length));
    const batch = yDims.slice(0, -2);
    const da = ctx.wants(0)
      ? ctx.unbroadcast(ctx.op('MatMul', [dy, ctx.transposeLastTwo(b2, b2Dims.length)]), a, [...batch, ...a2Dims.slice(-2)], a2Dims)
      : undefined;
    const db = ctx.wants(1)
      ? ctx.unbroadcast(ctx.op('MatMul', [ctx.transposeLastTwo(a2, a2Dims.length), dy]), b, [...batch, ...b2Dims.slice(-2)], b2Dims)
      : undefined;
    return [da, db];
  },
};

/** Axes of the promoted output that the real output lacks. */
function unsqueezedAxes(aRank: number, bRank: number, promotedRank: number): number[] {
  const axes: number[] = [];
  if (aRank === 1) axes.push(promotedRank - 2);
  if (bRank === 1) axes.push(promotedRank - 1);
  return axes;
}
