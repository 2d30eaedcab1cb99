/** Reshape, Flatten, Squeeze, Unsqueeze move no element: dx = dy reshaped to the shape of x. */
import type { GradientRule } from '../rule';

export const reshapeGradRule: GradientRule = {
  ops: ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze'],
  // Reshape's shape, Squeeze/Unsqueeze's axes (inputs from opset 13)
  nonDifferentiable: [1],
  grad: (ctx) => [ctx.reshapeLike(ctx.dy()!, ctx.input(0))],
};
