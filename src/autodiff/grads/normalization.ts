/**
 * The standardization inside BatchNormalization (training mode) and LayerNormalization:
 * x̂ = (x − mean)/√(var + ε) over some axes (population variance), and its gradient.
 */
import type { GradContext } from '../rule';

export interface Standardized {
  xHat: string;
  /** 1/√(var + ε), reduced axes kept as 1. */
  invStd: string;
}

/** x̂ and 1/√(var + ε) of x over `axes`, recomputed from x. */
export function standardize(ctx: GradContext, x: string, axes: number[], epsilon: number): Standardized {
  const centered = ctx.op('Sub', [x, ctx.reduce('ReduceMean', x, axes, true)]);
  const variance = ctx.reduce('ReduceMean', ctx.op('Mul', [centered, centered]), axes, true);
  const invStd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(epsilon, x)])])]);
  return { xHat: ctx.op('Mul', [centered, invStd]), invStd };
}

/**
 * ∂x given g = ∂L/∂x̂, where mean and variance depend on x too:
 * invStd·(g − mean(g) − x̂·mean(g·x̂)), means over the standardized axes.
 */
export function standardizedInputGrad(ctx: GradContext, g: string, { xHat, invStd }: Standardized, axes: number[]): string {
  const mean = (v: string) => ctx.reduce('ReduceMean', v, axes, true);
  const alongXHat = ctx.op('Mul', [xHat, mean(ctx.op('Mul', [g, xHat]))]);
  return ctx.op('Mul', [invStd, ctx.op('Sub', [ctx.op('Sub', [g, mean(g)]), alongXHat])]);
}
