/**
 * Every gradient rule. Adding an op: one file here named after the ops it differentiates
 * (`Add_Sub_grad.ts` for ops ['Add', 'Sub']), one line in this list; the registry refuses an op
 * listed twice and test/grad-registry.test.ts checks the names, the tests and the README.
 */
import type { GradientRule } from '../rule';
import { absGradRule } from './Abs_grad';
import { addGradRule } from './Add_Sub_grad';
import { averagePoolGradRule } from './AveragePool_grad';
import { batchNormalizationGradRule } from './BatchNormalization_grad';
import { castGradRule } from './Cast_grad';
import { clipGradRule } from './Clip_grad';
import { concatGradRule } from './Concat_grad';
import { convGradRule } from './Conv_grad';
import { convTransposeGradRule } from './ConvTranspose_grad';
import { divGradRule } from './Div_grad';
import { dropoutGradRule } from './Dropout_grad';
import { erfGradRule } from './Erf_grad';
import { expGradRule } from './Exp_grad';
import { expandGradRule } from './Expand_grad';
import { gatherGradRule } from './Gather_grad';
import { gemmGradRule } from './Gemm_grad';
import { globalAveragePoolGradRule } from './GlobalAveragePool_grad';
import { identityGradRule } from './Identity_grad';
import { layerNormalizationGradRule } from './LayerNormalization_grad';
import { leakyReluGradRule } from './LeakyRelu_grad';
import { logGradRule } from './Log_grad';
import { matMulGradRule } from './MatMul_grad';
import { maxGradRule } from './Max_Min_grad';
import { maxPoolGradRule } from './MaxPool_grad';
import { mulGradRule } from './Mul_grad';
import { negGradRule } from './Neg_grad';
import { padGradRule } from './Pad_grad';
import { powGradRule } from './Pow_grad';
import { reciprocalGradRule } from './Reciprocal_grad';
import { reduceGradRule } from './ReduceSum_ReduceMean_ReduceL2_grad';
import { reluGradRule } from './Relu_grad';
import { reshapeGradRule } from './Flatten_Reshape_Squeeze_Unsqueeze_grad';
import { sigmoidGradRule } from './Sigmoid_grad';
import { sliceGradRule } from './Slice_grad';
import { softmaxGradRule } from './Softmax_LogSoftmax_grad';
import { splitGradRule } from './Split_grad';
import { sqrtGradRule } from './Sqrt_grad';
import { tanhGradRule } from './Tanh_grad';
import { transposeGradRule } from './Transpose_grad';
import { whereGradRule } from './Where_grad';

export const GRADIENT_RULES: readonly GradientRule[] = [
  absGradRule,
  addGradRule,
  averagePoolGradRule,
  batchNormalizationGradRule,
  castGradRule,
  clipGradRule,
  concatGradRule,
  convGradRule,
  convTransposeGradRule,
  divGradRule,
  dropoutGradRule,
  erfGradRule,
  expGradRule,
  expandGradRule,
  gatherGradRule,
  gemmGradRule,
  globalAveragePoolGradRule,
  identityGradRule,
  layerNormalizationGradRule,
  leakyReluGradRule,
  logGradRule,
  matMulGradRule,
  maxGradRule,
  maxPoolGradRule,
  mulGradRule,
  negGradRule,
  padGradRule,
  powGradRule,
  reciprocalGradRule,
  reduceGradRule,
  reluGradRule,
  reshapeGradRule,
  sigmoidGradRule,
  sliceGradRule,
  softmaxGradRule,
  splitGradRule,
  sqrtGradRule,
  tanhGradRule,
  transposeGradRule,
  whereGradRule,
];
