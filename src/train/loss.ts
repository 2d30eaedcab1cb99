/**
 * Losses on one model output, emitted as graph nodes together with their closed-form
 * gradient (the seed of the backward pass):
 *  - cross-entropy: logits [N, C], one-hot targets [N, C]; mean over the batch of
 *    −Σ onehot·log_softmax(logits) (PyTorch's F.cross_entropy); ∂/∂logits = (softmax − onehot)/N.
 *  - mse: targets of the output's shape; mean over all elements of (y − t)² (F.mse_loss);
 *    ∂/∂y = 2(y − t)/numel.
 *  - l1: targets of the output's shape; mean over all elements of |y − t| (F.l1_loss, what
 *    vocoders train on); ∂/∂y = sign(y − t)/numel (0 where y = t, as PyTorch).
 */
import type { Builder } from '../ir/builder';
import type { DataType } from '../onnx/enums';
import { option, WnError } from '../errors';

export type LossKind = 'cross-entropy' | 'mse' | 'l1';
export const LOSSES: readonly LossKind[] = ['cross-entropy', 'mse', 'l1'];

export interface EmittedLoss {
  /** Scalar loss value. */
  loss: string;
  /** ∂loss/∂output. */
  grad: string;
}

export function emitLoss(b: Builder, kind: LossKind, output: string, outputDims: readonly (number | null)[], type: DataType, target: string): EmittedLoss {
  if (kind === 'cross-entropy') {
    if (outputDims.length !== 2) throw new WnError(`cross-entropy needs the output "${output}" to be [batch, classes] logits, it has shape [${outputDims.map((d) => d ?? '?')}]; choose another output with ${option('output')} or use ${option('loss')} mse`);
    const logProbs = b.op('LogSoftmax', [output], { axis: 1 }, 'log_softmax');
    const picked = b.reduce('ReduceSum', b.op('Mul', [target, logProbs], {}, 'picked'), [1], false, 'per_sample');
    const loss = b.op('Neg', [b.reduce('ReduceMean', picked, [0], false, 'mean')], {}, 'loss');
    const rows = b.cast(b.op('Gather', [b.op('Shape', [output], {}, 'shape'), b.constantInt64('batch_axis', [0])], { axis: 0 }, 'rows'), type, 'rows_float');
    const grad = b.op('Div', [b.op('Sub', [b.op('Exp', [logProbs], {}, 'softmax'), target], {}, 'residual'), rows], {}, 'grad');
    return { loss, grad };
  }
  const diff = b.op('Sub', [output, target], {}, 'diff');
  const count = b.cast(b.op('Size', [output], {}, 'count'), type, 'count_float');
  if (kind === 'l1') {
    const loss = b.op('ReduceMean', [b.op('Abs', [diff], {}, 'absolute')], { keepdims: 0 }, 'loss');
    return { loss, grad: b.op('Div', [b.op('Sign', [diff], {}, 'sign'), count], {}, 'grad') };
  }
  const loss = b.op('ReduceMean', [b.op('Mul', [diff, diff], {}, 'squared')], { keepdims: 0 }, 'loss');
  const grad = b.op('Div', [b.op('Mul', [diff, b.constantScalar('two', type, 2)], {}, 'twice'), count], {}, 'grad');
  return { loss, grad };
}
