/** Shape helpers shared by the gradient rules of shape, indexing and reduction ops. */
import type { GradContext } from '../rule';

/** An axis attribute as a non-negative position (ONNX counts negative axes from the back). */
export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Zeros of a runtime shape, in the element type of `like` (Expand: opset 8). */
export function zerosOfShape(ctx: GradContext, shape: string, like: string): string {
  return ctx.op('Expand', [ctx.scalar(0, like), shape], {}, 'zeros');
}

/** `value` broadcast to the shape of `like`; before Expand (opset 7), adding like·0 (0 for finite values) broadcasts it. */
export function expandLike(ctx: GradContext, value: string, like: string): string {
  if (ctx.opset >= 8) return ctx.op('Expand', [value, ctx.shapeOf(like)]);
  return ctx.op('Add', [value, ctx.op('Mul', [like, ctx.scalar(0, like)])]);
}

/** Zeros of the shape and element type of `like`. */
export function zerosLike(ctx: GradContext, like: string): string {
  return expandLike(ctx, ctx.scalar(0, like), like);
}

/** The permutation that undoes `perm` (Transpose by one, then the other, is the identity). */
export function inversePermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((from, to) => { inverse[from] = to; });
  return inverse;
}
