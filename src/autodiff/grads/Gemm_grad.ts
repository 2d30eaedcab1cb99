/**
 * Gemm y = alpha·A'·B' + beta·C (A' = Aᵀ if transA, B' = Bᵀ if transB):
 * ∂A' = alpha·dy·B'ᵀ, ∂B' = alpha·A'ᵀ·dy (transposed back where the input was), ∂C = beta·dy
 * summed over C's broadcast axes. Emitted as MatMul/Transpose: Gemm without C needs opset 11.
 */
import { floatAttribute, intAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';

export const gemmGradRule: GradientRule = {
  ops: ['Gemm'],
  grad(ctx) {
    const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.input(2)];
    const transA = intAttribute(ctx.node, 'transA', 0) === 1;
    const transB = intAttribute(ctx.node, 'transB', 0) === 1;
    const alpha = floatAttribute(ctx.node, 'alpha', 1);
    const beta = floatAttribute(ctx.node, 'beta', 1);
    const dy = ctx.dy()!;
    const t = (x: string) => ctx.op('Transpose', [x], { perm: [1, 0] });
    let da: string | undefined;
    if (ctx.wants(0)) {
      const dA = ctx.op('MatMul', [dy, transB ? b : t(b)]);
      da = scaled(ctx, transA ? t(dA) : dA, alpha, a);
    }
    let db: string | undefined;
    if (ctx.wants(1)) {
      const dB = ctx.op('MatMul', [transA ? a : t(a), dy]);
      db = scaled(ctx, transB ? t(dB) : dB, alpha, b);
    }
    const dc = c && ctx.wants(2) ? scaled(ctx, ctx.unbroadcast(dy, c), beta, c) : undefined;
    return [da, db, dc];
  },
};

/** x·factor; `like` is a forward value of x's element type. */
function scaled(ctx: GradContext, x: string, factor: number, like: string): string {
  return factor === 1 ? x : ctx.op('Mul', [x, ctx.scalar(factor, like)]);
}
