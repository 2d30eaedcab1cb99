/**
 * BatchNormalization y = scale·x̂ + B per channel (axis 1), x̂ = (x − mean)/√(var + ε):
 * ∂scale = Σ dy·x̂, ∂B = Σ dy (over all axes but 1). On the running statistics (inference),
 * ∂x = dy·scale/√(var + ε); on the batch's own (training mode), mean and var move with x:
 * ∂x = (scale/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)). The running statistics and the extra outputs
 * take no gradient.
 */
import { floatAttribute, intAttribute } from '../../ir/attributes';
import type { GradientRule } from '../rule';
import { channelSum } from './conv-geometry';
import { standardize, standardizedInputGrad } from './normalization';

export const batchNormalizationGradRule: GradientRule = {
  ops: ['BatchNormalization'],
  nonDifferentiable: [3, 4],
  grad(ctx) {
    const [x, scale, runningMean, runningVar] = [ctx.input(0), ctx.input(1), ctx.input(3), ctx.input(4)];
    if (ctx.opset < 9 && intAttribute(ctx.node, 'spatial', 1) !== 1) ctx.fail('spatial=0 (statistics per activation) is not supported');
    const epsilon = floatAttribute(ctx.node, 'epsilon', 1e-5);
    const rank = ctx.rank(x);
    // [C] → [C, 1, …] to broadcast along axis 1 of x
    const perChannel = (v: string) => (rank > 2 ? ctx.unsqueeze(v, [...Array(rank - 2).keys()].map((i) => i + 1)) : v);
    const statisticsAxes = [...Array(rank).keys()].filter((axis) => axis !== 1);
    // before opset 14, extra outputs (mean, var, saved mean and var) are what select training mode
    const training = ctx.opset >= 14 ? intAttribute(ctx.node, 'training_mode', 0) === 1 : (ctx.node.output ?? []).filter(Boolean).length > 1;
    const dy = ctx.dy()!;
    const scaled = ctx.op('Mul', [dy, perChannel(scale)]);
    let dx: string | undefined;
    let xHat: string;
    if (training) {
      const standardized = standardize(ctx, x, statisticsAxes, epsilon);
      xHat = standardized.xHat;
      if (ctx.wants(0)) dx = standardizedInputGrad(ctx, scaled, standardized, statisticsAxes);
    } else {
      const invStd = perChannel(ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [runningVar, ctx.scalar(epsilon, x)])])]));
      xHat = ctx.op('Mul', [ctx.op('Sub', [x, perChannel(runningMean)]), invStd]);
      if (ctx.wants(0)) dx = ctx.op('Mul', [scaled, invStd]);
    }
    const dScale = ctx.wants(1) ? channelSum(ctx, ctx.op('Mul', [dy, xHat])) : undefined;
    const dB = ctx.wants(2) ? channelSum(ctx, dy) : undefined;
    return [dx, dScale, dB];
  },
};
