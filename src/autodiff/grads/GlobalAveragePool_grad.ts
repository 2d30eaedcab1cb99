/** GlobalAveragePool y = mean of x over its spatial axes: ∂x = dy/(spatial size), repeated over them. */
import type { GradientRule } from '../rule';

export const globalAveragePoolGradRule: GradientRule = {
  ops: ['GlobalAveragePool'],
  grad(ctx) {
    const [x, y] = [ctx.input(0), ctx.output(0)];
    // spatial sizes may vary (fully convolutional models): repeats and count come from the shapes
    const repeats = ctx.op('Div', [ctx.shape(x), ctx.shape(y)]);
    const size = (v: string) => ctx.op('Cast', [ctx.op('Size', [v])], { to: ctx.type(x) });
    const share = ctx.op('Div', [size(y), size(x)]);
    return [ctx.op('Tile', [ctx.op('Mul', [ctx.dy()!, share]), repeats])];
  },
};
