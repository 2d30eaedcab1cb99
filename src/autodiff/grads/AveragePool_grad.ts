/**
 * AveragePool y[o] = Σ over window o of x / divisor[o]: ∂x = ConvTranspose of dy/divisor with a
 * kernel of ones, every channel on its own. Where windows reach into padding, divisors come from
 * the runtime itself, whatever count_include_pad and ceil_mode make of them: AveragePool of ones
 * (real elements/divisor) over the real elements per window (a Conv of ones).
 */
import { intsAttribute } from '../../ir/attributes';
import type { GradContext, GradientRule } from '../rule';
import { autoPad, forwardGeometry, overhang, sameAttributes, slideWindows, spreadWindows } from './conv-geometry';
import { elementCount } from '../../tensor/values';

export const averagePoolGradRule: GradientRule = {
  ops: ['AveragePool'],
  grad(ctx) {
    const x = ctx.input(0);
    const kernel = intsAttribute(ctx.node, 'kernel_shape') ?? [];
    const g = forwardGeometry(ctx, kernel);
    if (autoPad(ctx.node).startsWith('SAME') && g.dilations.some((d) => d > 1)) {
      ctx.fail('auto_pad SAME_* with dilations: ONNX Runtime pads it as if undilated, unlike ONNX; use explicit pads');
    }
    const onesKernel = ones(ctx, [1, 1, ...kernel], x);
    const reach = overhang(g);
    const inside = g.padsBegin.every((pad, i) => pad === 0 && reach[i] <= 0);
    let reciprocalDivisors: string;
    if (inside) {
      reciprocalDivisors = ctx.scalar(1 / elementCount(kernel), x);
    } else {
      const onesSignal = ones(ctx, [1, 1, ...g.signal], x);
      const averaged = ctx.op('AveragePool', [onesSignal], sameAttributes(ctx.node));
      const real = slideWindows(ctx, onesSignal, onesKernel, g, 1);
      // ceil_mode can leave a last window wholly past x (ONNX Runtime keeps it, averaging to 0): divide by at least 1
      const emptyWindow = g.signal.some((size, i) => (g.windows[i] - 1) * g.strides[i] - g.padsBegin[i] >= size);
      reciprocalDivisors = ctx.op('Div', [averaged, emptyWindow ? ctx.op('Max', [real, ones(ctx, [1, 1, ...g.windows], x)]) : real]);
    }
    // channels into the batch: one ones kernel serves them all
    const scaled = ctx.op('Reshape', [ctx.op('Mul', [ctx.dy()!, reciprocalDivisors]), ctx.ints([-1, 1, ...g.windows], 'per_channel')]);
    return [ctx.reshapeLike(spreadWindows(ctx, scaled, onesKernel, [1, 1, ...kernel], g, 1), x)];
  },
};

/** Ones of fixed dims (Tile of a scalar: Expand needs opset 8). */
function ones(ctx: GradContext, dims: number[], like: string): string {
  const one = ctx.op('Reshape', [ctx.scalar(1, like), ctx.ints(dims.map(() => 1), 'unit_shape')]);
  return ctx.op('Tile', [one, ctx.ints(dims, 'repeats')], {}, 'ones');
}
