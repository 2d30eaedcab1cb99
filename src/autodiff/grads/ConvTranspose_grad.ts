/**
 * ConvTranspose y = x ⋆ᵀ W + B, the transpose of a Conv from y's space to x's: ∂x = Conv(dy, W)
 * with the same windows; ∂W = Σ over batch and windows of dy's window times x (kernelGradient
 * with dy as the signal); ∂B = dy summed over all axes but 1.
 */
import { intAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { channelSum, kernelGradient, slideWindows, transposedGeometry } from './conv-geometry';

export const convTransposeGradRule: GradientRule = {
  ops: ['ConvTranspose'],
  grad(ctx) {
    const [x, w] = [ctx.input(0), ctx.input(1)];
    const group = intAttribute(ctx.node, 'group', 1);
    const wDims = ctx.staticDims(w, 'the windows of its gradient');
    const g = transposedGeometry(ctx, wDims.slice(2));
    const dy = ctx.dy()!;
    const dx = ctx.wants(0) ? slideWindows(ctx, dy, w, g, group) : undefined;
    const dw = ctx.wants(1) ? kernelGradient(ctx, dy, x, g, group, wDims) : undefined;
    const db = ctx.hasInput(2) && ctx.wants(2) ? channelSum(ctx, dy) : undefined;
    return [dx, dw, db];
  },
};
