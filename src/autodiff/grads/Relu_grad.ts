/**
 * Relu y = max(x, 0): dy where x > 0, else 0 (0 at x = 0, as PyTorch). The test reads y (y > 0
 * exactly where x > 0), so x has no reader but the Relu and ONNX Runtime can still fuse it into
 * the Conv or Gemm that makes it.
 */
import type { GradientRule } from '../rule';
import { mask } from './mask';

export const reluGradRule: GradientRule = {
  ops: ['Relu'],
  grad(ctx) {
    const y = ctx.output(0);
    return [ctx.op('Mul', [ctx.dy()!, mask(ctx, ctx.op('Greater', [y, ctx.scalar(0, y)]), y)])];
  },
};
