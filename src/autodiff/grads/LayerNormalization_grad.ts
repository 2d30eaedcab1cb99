/**
 * LayerNormalization y = scale·x̂ + B, x̂ = (x − mean)/√(var + ε) over the axes from `axis` on:
 * with g = dy·scale, ∂x = invstd·(g − mean(g) − x̂·mean(g·x̂)); ∂scale = Σ dy·x̂ and ∂B = Σ dy
 * over the leading axes (and any the parameters broadcast along). Mean and InvStdDev outputs
 * take no gradient.
 */
import { floatAttribute, intAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { standardize, standardizedInputGrad } from './normalization';

export const layerNormalizationGradRule: GradientRule = {
  ops: ['LayerNormalization'],
  grad(ctx) {
    const [x, scale, bias] = [ctx.input(0), ctx.input(1), ctx.input(2)];
    const rank = ctx.rank(x);
    const axis = intAttribute(ctx.node, 'axis', -1);
    const first = axis < 0 ? axis + rank : axis;
    const axes = [...Array(rank - first).keys()].map((i) => i + first);
    const standardized = standardize(ctx, x, axes, floatAttribute(ctx.node, 'epsilon', 1e-5));
    const dy = ctx.dy()!;
    const dx = ctx.wants(0) ? standardizedInputGrad(ctx, ctx.op('Mul', [dy, scale]), standardized, axes) : undefined;
    const dScale = ctx.wants(1) ? ctx.unbroadcast(ctx.op('Mul', [dy, standardized.xHat]), scale) : undefined;
    const dB = bias && ctx.wants(2) ? ctx.unbroadcast(dy, bias) : undefined;
    return [dx, dScale, dB];
  },
};
