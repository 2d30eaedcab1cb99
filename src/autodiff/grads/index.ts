/** Every gradient rule. Adding an op: one file here, one line in this list. */
import type { GradientRule } from '../rule';
import { addGradRule } from './Add_grad';
import { divGradRule } from './Div_grad';
import { gemmGradRule } from './Gemm_grad';
import { identityGradRule } from './Identity_grad';
import { matMulGradRule } from './MatMul_grad';
import { mulGradRule } from './Mul_grad';
import { reluGradRule } from './Relu_grad';

export const GRADIENT_RULES: readonly GradientRule[] = [
  addGradRule,
  divGradRule,
  gemmGradRule,
  identityGradRule,
  matMulGradRule,
  mulGradRule,
  reluGradRule,
];
