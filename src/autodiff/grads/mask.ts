/** Masks for piecewise rules: a boolean condition as 1/0 in a float type (Where needs opset 9, these work from 7). */
import type { GradContext } from '../rule';

/** 1 where `condition` holds, else 0, in the element type of the forward value `like`. */
export function mask(ctx: GradContext, condition: string, like: string): string {
  return ctx.op('Cast', [condition], { to: ctx.type(like) }, 'mask');
}
