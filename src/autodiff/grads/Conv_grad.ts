/**
 * Conv y = x ⋆ W + B (grouped, strided, dilated, padded): ∂x = ConvTranspose(dy, W) with the same
 * windows, sized like x; ∂W = Σ over batch and windows of x's window times dy (a Conv of x with
 * dy, see kernelGradient); ∂B = dy summed over all axes but 1.
 */
import { intAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { channelSum, forwardGeometry, kernelGradient, spreadWindows } from './conv-geometry';

export const convGradRule: GradientRule = {
  ops: ['Conv'],
  grad(ctx) {
    const [x, w] = [ctx.input(0), ctx.input(1)];
    const group = intAttribute(ctx.node, 'group', 1);
    const wDims = ctx.staticDims(w, 'the windows of its gradient');
    const g = forwardGeometry(ctx, wDims.slice(2));
    const dy = ctx.dy()!;
    const dx = ctx.wants(0) ? spreadWindows(ctx, dy, w, wDims, g, group) : undefined;
    const dw = ctx.wants(1) ? kernelGradient(ctx, x, dy, g, group, wDims) : undefined;
    const db = ctx.hasInput(2) && ctx.wants(2) ? channelSum(ctx, dy) : undefined;
    return [dx, dw, db];
  },
};
