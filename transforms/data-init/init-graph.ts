/**
 * compileInitGraph: the graph that does the paper's data-dependent init in ONE run. A copy of
 * the model (the model itself is not changed) in which every listed layer
 *   - runs with g = 1 and bias = 0 (and mean-only BN's running mean 0), so its pre-activation
 *     is t = v·x/‖v‖ (times Gemm's alpha),
 *   - takes the batch statistics of t per output feature: μ, σ = sqrt(var + ε) (population
 *     variance; ε 1e-8 for convolutions, 1e-10 for dense layers, as the reference code),
 *   - hands s·(t − μ)/σ on instead of t, which is exactly what the layer computes once
 *     g = s/σ and b = −μ·s/σ are set, so every later layer sees initialized inputs,
 *   - and outputs μ and σ, one value per feature in g's order.
 * The graph's outputs are those statistics only, so ONNX Runtime drops whatever does not lead
 * to them.
 *
 * Statistics run over every axis but the features: batch and spatial axes (Conv), batch
 * (Gemm), every leading axis (MatMul [K, N]); for a batched MatMul weight [B.., K, N] the mean
 * is taken over the rows first, then over the leading axes (equal group sizes: the same mean).
 * float16/bfloat16 layers take their statistics in float32.
 */
import { DataType } from '../../src/onnx/enums';
import type { GraphProto, NodeProto, TensorProto } from '../../src/onnx/proto';
import { Graph, tensorValueInfo } from '../../src/ir/graph';
import { Model } from '../../src/ir/model';
import { Builder } from '../../src/ir/builder';
import { elementCount, tensorDims, withFloatValues } from '../../src/tensor/values';
import { layerFeatures } from '../../src/wn/wn-layers';
import type { BiasedLayer } from '../../src/wn/layer-bias';

export const CONV_EPS = 1e-8;
export const DENSE_EPS = 1e-10;

export interface InitGraphOptions {
  /** Target standard deviation of every pre-activation (the paper's init scale; default 1). */
  scale?: number;
}

/** Names of one layer's statistic outputs in the init graph. */
export interface LayerStatistics { layer: BiasedLayer; mean: string; std: string; eps: number }

const filled = (t: TensorProto, value: number) => withFloatValues(t, new Float64Array(elementCount(tensorDims(t))).fill(value));

export function compileInitGraph(model: Model, layers: readonly BiasedLayer[], { scale = 1 }: InitGraphOptions = {}): { model: Model; statistics: LayerStatistics[] } {
  const source = model.graph;
  const fixed = new Map<string, number>();
  for (const layer of layers) {
    fixed.set(layer.spec.g, 1);
    fixed.set(layer.bias, 0);
    if (layer.runningMean) fixed.set(layer.runningMean, 0);
  }
  const proto: GraphProto = {
    ...source.proto,
    node: [...source.nodes],
    initializer: source.initializers.map((t) => (fixed.has(t.name ?? '') ? filled(t, fixed.get(t.name ?? '')!) : t)),
    output: [],
  };
  const graph = new Graph(proto);
  const b = new Builder(graph, model.defaultOpset(), 'wn_init', 'wn-onnx data-dependent init');
  const statistics: LayerStatistics[] = [];
  const after = new Map<string, { raw: string; nodes: NodeProto[] }>();

  for (const layer of layers) {
    const label = layer.node.name || layer.spec.weight;
    const role = (r: string) => `${label}/${r}`;
    const first = b.nodes.length;
    const computeType = layer.type === DataType.FLOAT16 || layer.type === DataType.BFLOAT16 ? DataType.FLOAT : layer.type;
    const eps = layer.kind === 'conv' ? CONV_EPS : DENSE_EPS;
    const raw = b.name(role('raw'));
    const t = computeType !== layer.type ? b.cast(raw, computeType, role('float')) : raw;

    const { mean, centered, std } = b.moments(t, (v, r) => featureMean(b, layer, v, r), eps, computeType, role(''));
    const gain = b.op('Div', [b.constantScalar(role('scale'), computeType, scale), std], {}, role('gain'));
    if (computeType !== layer.type) b.cast(b.op('Mul', [centered, gain], {}, role('normalized')), layer.type, role('normalized_cast'), layer.preActivation);
    else b.op('Mul', [centered, gain], {}, role('normalized'), layer.preActivation);

    const stat = { layer, mean: b.reshape(mean, [-1], role('mean_out')), std: b.reshape(std, [-1], role('std_out')), eps };
    statistics.push(stat);
    proto.output!.push(tensorValueInfo(stat.mean, computeType, [layer.features]), tensorValueInfo(stat.std, computeType, [layer.features]));
    after.set(layer.preActivation, { raw, nodes: b.nodes.slice(first) });
  }

  // each layer's statistics go right after the node that produces its pre-activation, which now
  // produces the raw value instead
  proto.node = source.nodes.flatMap((node) => {
    const inserted = after.get(node.output?.[0] ?? '');
    if (!inserted) return [node];
    return [{ ...node, output: [inserted.raw, ...(node.output ?? []).slice(1)] }, ...inserted.nodes];
  });
  proto.input = [...source.inputs];
  const initModel = new Model({ ...model.proto, graph: proto });
  initModel.addInitializers(b.initializers);
  return { model: initModel, statistics };
}

/** Per-feature mean of a value shaped like the layer's pre-activation, in a shape that broadcasts against it. */
function featureMean(b: Builder, layer: BiasedLayer, x: string, role: string): string {
  const rank = layer.dims.length;
  if (layer.kind === 'conv') return b.reduce('ReduceMean', x, [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)], true, role);
  const { biasDims } = layerFeatures(layer);
  const rows = rank > 2 ? b.reduce('ReduceMean', x, [-2], true, `${role}_rows`) : x;
  return b.reduce('ReduceMean', b.reshape(rows, [-1, ...biasDims], `${role}_flat`), [0], false, role);
}
