/**
 * LeakyRelu: ∂x = dy where x > 0, alpha·dy elsewhere (alpha at x = 0, as PyTorch). With
 * alpha ≥ 0, y > 0 exactly where x > 0: the test reads y, so ONNX Runtime can still fuse the
 * LeakyRelu into the Conv that makes x, and a MaxPool reading y applies the slope to its own,
 * smaller, dy.
 */
import type { NodeProto } from '../../onnx/proto';
import { floatAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';
import { mask } from './mask';

const alphaOf = (node: NodeProto) => floatAttribute(node, 'alpha', 0.01);

/** dy·(alpha + (1 − alpha)·[v > 0]), v being x or (alpha ≥ 0) y. */
function timesSlope(ctx: GradContext, alpha: number, dy: string, v: string): string {
  const positive = mask(ctx, ctx.op('Greater', [v, ctx.scalar(0, v)]), v);
  const slope = ctx.op('Add', [ctx.op('Mul', [positive, ctx.scalar(1 - alpha, v)]), ctx.scalar(alpha, v)]);
  return ctx.op('Mul', [dy, slope]);
}

export const leakyReluGradRule: GradientRule = {
  ops: ['LeakyRelu'],
  grad(ctx) {
    if (ctx.derivativeApplied()) return [ctx.dy()!];
    const alpha = alphaOf(ctx.node);
    return [timesSlope(ctx, alpha, ctx.dy()!, alpha >= 0 ? ctx.output(0) : ctx.input(0))];
  },
  outputDerivativeTimes(ctx, node, dy, y) {
    const alpha = alphaOf(node);
    return alpha >= 0 ? timesSlope(ctx, alpha, dy, y) : undefined;
  },
};
