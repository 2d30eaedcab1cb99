/**
 * setInitParameters: writes what data-dependent init measured into the model: per feature
 * g = s/σ and b = −μ·s/σ (divided by Gemm's beta, which scales the bias), so the layer's
 * pre-activation has mean 0 and standard deviation s on the init batch. With mean-only BN,
 * which centers t itself, b = 0 and its running mean is μ·s/σ: the saved form subtracts it, the
 * same output. Recurrent layers get g = ‖v‖ (W = v: the paper applies this init only where
 * batch norm would apply).
 */
import type { Model } from '../../src/ir/model';
import { featureNorms } from '../../src/tensor/norms';
import { floatStorage, withFloatValues } from '../../src/tensor/values';
import { stats, type Stats } from '../../src/tensor/stats';
import type { WeightNormLayer } from '../../src/wn/wn-layers';
import { WnError } from '../../src/errors';
import { weightName } from '../../src/wn/spec';
import type { LayerStatistics } from './init-graph';

export interface LayerInit {
  node: string;
  op: string;
  weight: string;
  features: number;
  /** Batch statistics of t = v·x/‖v‖ before init. */
  mean: Stats;
  std: Stats;
  /** The g it was given. */
  g: Stats;
  /** Features whose variance on the batch was at most ε (g is then s/sqrt(var + ε): large but finite). */
  constantFeatures: number;
}

export interface MeasuredStatistics extends LayerStatistics {
  meanValues: ArrayLike<number>;
  stdValues: ArrayLike<number>;
}

export function setInitParameters(model: Model, measured: readonly MeasuredStatistics[], scale = 1): LayerInit[] {
  const graph = model.graph;
  return measured.map(({ layer, meanValues, stdValues, eps }) => {
    const g = graph.initializer(layer.spec.g);
    const bias = graph.initializer(layer.bias);
    if (!g || !bias) throw new WnError(`internal: layer "${layer.node.name}" lost its g or bias initializer`);
    const gains = Float64Array.from(stdValues, (sigma) => scale / sigma);
    // mean-only BN (y = g·t − running mean + b): b = 0 and the running mean μ·g give the same standardized output
    const meanOnly = layer.runningMean ? graph.initializer(layer.runningMean) : undefined;
    const shift = Float64Array.from(meanValues, (mu, f) => (-mu * gains[f]) / layer.biasScale);
    const biases = meanOnly ? new Float64Array(shift.length) : shift;
    if (!gains.every(Number.isFinite) || !biases.every(Number.isFinite)) {
      throw new WnError(`layer "${layer.node.name || layer.spec.weight}": its pre-activation on the init batch is not finite (NaN or Inf in the data, or an overflow before this layer)`);
    }
    graph.replaceInitializer(layer.spec.g, [withFloatValues(g, gains)]);
    graph.replaceInitializer(layer.bias, [withFloatValues(bias, biases)]);
    if (meanOnly) graph.replaceInitializer(meanOnly.name!, [withFloatValues(meanOnly, shift.map((x) => -x))]);
    const constantFeatures = Array.from(stdValues).filter((sigma) => sigma * sigma - eps <= eps).length;
    return {
      node: layer.node.name ?? '', op: layer.node.op_type ?? '', weight: weightName(layer.spec), features: layer.features,
      mean: stats(meanValues), std: stats(stdValues), g: stats(gains), constantFeatures,
    };
  });
}

/** g = ‖v‖ for layers data-dependent init does not apply to. */
export function keepDirectionNorms(model: Model, layers: readonly WeightNormLayer[]): void {
  const graph = model.graph;
  for (const { spec } of layers) {
    const g = graph.initializer(spec.g);
    const v = graph.initializer(spec.v);
    if (!g || !v) throw new WnError(`internal: "${spec.weight}" lost its g or v initializer`);
    graph.replaceInitializer(spec.g, [withFloatValues(g, featureNorms(floatStorage(v), spec.view, spec.keep))]);
  }
}
