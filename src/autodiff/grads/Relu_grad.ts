/**
 * Relu y = max(x, 0): dy where x > 0, else 0 (0 at x = 0, as PyTorch). The test reads y (y > 0
 * exactly where x > 0), so x has no reader but the Relu and ONNX Runtime can still fuse it into
 * the Conv or Gemm that makes it. A MaxPool reading y applies the mask to its own, smaller, dy.
 */
import type { GradContext, GradientRule } from '../rule';
import { mask } from './mask';

function timesMask(ctx: GradContext, dy: string, y: string): string {
  return ctx.op('Mul', [dy, mask(ctx, ctx.op('Greater', [y, ctx.scalar(0, y)]), y)]);
}

export const reluGradRule: GradientRule = {
  ops: ['Relu'],
  grad(ctx) {
    return [ctx.derivativeApplied() ? ctx.dy()! : timesMask(ctx, ctx.dy()!, ctx.output(0))];
  },
  outputDerivativeTimes: (ctx, _node, dy, y) => timesMask(ctx, dy, y),
};
