/**
 * Optimizers as nodes of the step graph, PyTorch's algorithms (torch.optim 1.13) step for step:
 *  - sgd: d = g + wd·p; with momentum buf = μ·buf + d (buf starts at 0, so the first step gives
 *    buf = d, as PyTorch's clone), d = d + μ·buf (nesterov) or buf; p −= lr·d.
 *  - adam: g += wd·p; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
 *    p −= (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε).
 * Values that change from step to step (lr, β1 and the bias corrections, which the schedule
 * moves) are scalar inputs of the graph, computed by the trainer in float64 as PyTorch does;
 * the rest are constants.
 */
import type { Builder } from '../ir/builder';
import type { DataType } from '../onnx/enums';
import { elementCount } from '../tensor/values';
import { concatPieces, CPU_LOWERING, splitPieces, type Lowering } from '../autodiff/rule';

export type OptimizerKind = 'sgd' | 'adam';
export const OPTIMIZERS: readonly OptimizerKind[] = ['sgd', 'adam'];

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** sgd momentum μ (default 0: plain p −= lr·grad). */
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's weight_decay), default 0. */
  weightDecay?: number;
  /** adam β2 (default 0.999). */
  beta2?: number;
  /** adam ε (default 1e-8). */
  eps?: number;
}

/** Per-step scalars, by role: their graph input names. */
export interface StepScalars {
  /** sgd: lr; adam: lr / (1 − β1ᵗ). */
  stepSize: string;
  /** adam only. */
  beta1?: string;
  oneMinusBeta1?: string;
  /** adam only: √(1 − β2ᵗ). */
  biasCorrection2Sqrt?: string;
}

/** Optimizer state carried from step to step (zeros at the start): one flat tensor per role, all parameters end to end. */
export interface StateTensor { input: string; output: string }

export const STATE_NAMES: Record<OptimizerKind, (o: OptimizerOptions) => string[]> = {
  sgd: (o) => (o.momentum ? ['momentum_buffer'] : []),
  adam: () => ['exp_avg', 'exp_avg_sq'],
};

/** A parameter to update: its gradient, dims and the name its new value is written to. */
export interface UpdatedParameter { param: string; grad: string; dims: readonly number[]; updated: string }

/**
 * Emits the update of all parameters. The optimizer's arithmetic runs once over one flat
 * vector of every gradient (the state tensors are flat likewise), not per parameter: a dozen
 * nodes instead of a dozen per parameter, whose fixed cost per node dominated the optimizer's
 * time in ONNX Runtime. Each parameter then takes its slice of the step. `state` holds the
 * input/output names for STATE_NAMES of the optimizer, in order.
 */
export function emitUpdate(
  b: Builder, options: OptimizerOptions, scalars: StepScalars, type: DataType, params: readonly UpdatedParameter[], state: readonly StateTensor[],
  lowering: Lowering = CPU_LOWERING,
): void {
  const c = (role: string, value: number) => b.constantScalar(role, type, value);
  const mul = (x: string, y: string, role: string, output?: string) => b.op('Mul', [x, y], {}, role, output);
  const add = (x: string, y: string, role: string, output?: string) => b.op('Add', [x, y], {}, role, output);
  const decay = options.weightDecay ? c('weight_decay', options.weightDecay) : undefined;
  const decayed = params.map(({ param, grad }) => (decay ? add(grad, mul(param, decay, 'decay'), 'decayed_grad') : grad));
  const flat = decayed.map((grad) => b.reshape(grad, [-1], 'flat_grad'));
  const d = flat.length === 1 ? flat[0] : concatPieces(b, flat, 0, lowering.concatInputs, 'grads');
  let step: string;
  if (options.kind === 'sgd') {
    let direction = d;
    if (options.momentum) {
      const momentum = c('momentum', options.momentum);
      const buffer = add(mul(state[0].input, momentum, 'momentum_scaled'), d, 'momentum_buffer', state[0].output);
      direction = options.nesterov ? add(d, mul(buffer, momentum, 'nesterov_scaled'), 'nesterov') : buffer;
    }
    step = mul(direction, scalars.stepSize, 'step');
  } else {
    const [m, v] = state;
    const m2 = add(mul(m.input, scalars.beta1!, 'exp_avg_decay'), mul(d, scalars.oneMinusBeta1!, 'exp_avg_new'), 'exp_avg', m.output);
    const beta2 = options.beta2 ?? 0.999;
    const v2 = add(mul(v.input, c('beta2', beta2), 'exp_avg_sq_decay'), mul(mul(d, d, 'grad_sq'), c('one_minus_beta2', 1 - beta2), 'exp_avg_sq_new'), 'exp_avg_sq', v.output);
    const denom = add(b.op('Div', [b.op('Sqrt', [v2], {}, 'sqrt'), scalars.biasCorrection2Sqrt!], {}, 'corrected'), c('eps', options.eps ?? 1e-8), 'denom');
    step = mul(b.op('Div', [m2, denom], {}, 'ratio'), scalars.stepSize, 'step');
  }
  const sizes = params.map((p) => elementCount(p.dims));
  const steps = params.length === 1 ? [step] : splitPieces(b, step, sizes, 0, lowering.splitOutputs);
  params.forEach((p, i) => b.op('Sub', [p.param, b.reshape(steps[i], [...p.dims], 'param_step')], {}, 'update', p.updated));
}
