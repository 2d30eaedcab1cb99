/** LeakyRelu: ∂x = dy where x > 0, alpha·dy elsewhere (alpha at x = 0, as PyTorch). */
import { floatAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { mask } from './mask';

export const leakyReluGradRule: GradientRule = {
  ops: ['LeakyRelu'],
  grad(ctx) {
    const x = ctx.input(0);
    const alpha = floatAttribute(ctx.node, 'alpha', 0.01);
    // slope = alpha + (1 − alpha)·[x > 0]
    const positive = mask(ctx, ctx.op('Greater', [x, ctx.scalar(0, x)]), x);
    const slope = ctx.op('Add', [ctx.op('Mul', [positive, ctx.scalar(1 - alpha, x)]), ctx.scalar(alpha, x)]);
    return [ctx.op('Mul', [ctx.dy()!, slope])];
  },
};
