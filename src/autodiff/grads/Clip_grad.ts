/**
 * Clip y = min(max(x, lo), hi): ∂x = dy where lo ≤ x ≤ hi (bounds included, as PyTorch's clamp),
 * else 0. Bounds are float attributes before opset 11, optional inputs from 11 (no gradient).
 */
import { attribute, floatAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';
import { mask } from './mask';

export const clipGradRule: GradientRule = {
  ops: ['Clip'],
  nonDifferentiable: [1, 2],
  grad(ctx) {
    const x = ctx.input(0);
    const [lo, hi] = ctx.opset < 11 ? [attributeBound(ctx, 'min'), attributeBound(ctx, 'max')] : [ctx.input(1), ctx.input(2)];
    // GreaterOrEqual needs opset 12: x ≥ lo as not(x < lo)
    const inside: string[] = [];
    if (lo) inside.push(ctx.op('Not', [ctx.op('Less', [x, lo])]));
    if (hi) inside.push(ctx.op('Not', [ctx.op('Greater', [x, hi])]));
    if (!inside.length) return [ctx.dy()];
    const condition = inside.length === 2 ? ctx.op('And', inside) : inside[0];
    return [ctx.op('Mul', [ctx.dy()!, mask(ctx, condition, x)])];
  },
};

/** A bound given as an attribute, as a constant; '' where the attribute is absent (no bound). */
function attributeBound(ctx: GradContext, name: 'min' | 'max'): string {
  return attribute(ctx.node, name) ? ctx.scalar(floatAttribute(ctx.node, name, 0), ctx.input(0)) : '';
}
