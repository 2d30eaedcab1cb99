/**
 * Which initializers training updates: every floating-point initializer with at least one
 * element axis that feeds a differentiable input of some node (weights, WN g and v, biases,
 * norm scales). Scalars (ε, exponents, pass constants), integer tensors (shapes, axes,
 * indices), inputs a rule marks non-differentiable (running statistics, Clip bounds) and
 * mean-only BN's running means never train; `freeze` fixes more by name.
 */
import { FLOAT_TYPES } from '../onnx/enums';
import type { Model } from '../ir/model';
import { tensorDims } from '../tensor/values';
import { gradientRule } from '../autodiff/registry';
import { meanOnlyBatchNorms } from '../wn/mean-only-bn';

export interface ParameterChoice {
  trainable: string[];
  /** Parameters `freeze` matched. */
  frozen: string[];
}

export function chooseParameters(model: Model, freeze?: RegExp): ParameterChoice {
  const g = model.graph;
  const trainable: string[] = [];
  const frozen: string[] = [];
  // mean-only BN's running means are statistics, updated by the step graph, never trained
  const statistics = new Set(meanOnlyBatchNorms(g).map(({ spec }) => spec.runningMean));
  for (const t of g.initializers) {
    const name = t.name ?? '';
    if (statistics.has(name)) continue;
    if (!FLOAT_TYPES.has(t.data_type ?? 0) || tensorDims(t).length === 0) continue;
    const feedsDifferentiable = g.consumers(name).some((node) => (node.input ?? []).some((input, i) => input === name && !gradientRule(node.op_type ?? '')?.nonDifferentiable?.includes(i)));
    if (!feedsDifferentiable) continue;
    (freeze?.test(name) ? frozen : trainable).push(name);
  }
  return { trainable, frozen };
}
