/** Transpose y = xᵀ(perm): dx = dyᵀ(perm⁻¹); the default perm reverses the axes. */
import { intsAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { inversePermutation } from './shapes';

export const transposeGradRule: GradientRule = {
  ops: ['Transpose'],
  grad(ctx) {
    const perm = intsAttribute(ctx.node, 'perm') ?? [...Array(ctx.rank(ctx.input(0))).keys()].reverse();
    return [ctx.op('Transpose', [ctx.dy()!], { perm: inversePermutation(perm) })];
  },
};
