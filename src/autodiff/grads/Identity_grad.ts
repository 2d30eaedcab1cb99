/** Identity, and Dropout in inference form (the training graph rewrites training-mode Dropout). */
import type { GradientRule } from '../rule';

export const identityGradRule: GradientRule = {
  ops: ['Identity'],
  grad: (ctx) => [ctx.dy()],
};
