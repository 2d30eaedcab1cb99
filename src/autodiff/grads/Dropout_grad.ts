/** Dropout in inference mode: ∂x = dy (the training graph rewrites training-mode Dropout before the backward pass). */
import type { GradientRule } from '../rule';

export const dropoutGradRule: GradientRule = {
  ops: ['Dropout'],
  nonDifferentiable: [1, 2],
  grad(ctx) {
    // from opset 12 a training_mode input may switch dropout on; its value is not visible to rules
    if (ctx.hasInput(2)) ctx.fail(`it has a training_mode input ("${ctx.input(2)}"); only inference-mode Dropout (no training_mode) has a gradient rule, training-mode Dropout is rewritten by the training graph`);
    return [ctx.dy()];
  },
};
