/**
 * The layers of a model whose weight is weight-normalized, in graph (topological) order, with
 * what data-dependent init needs of each: the kind of layer, the weight as the layer sees it,
 * and the type of its output.
 *
 * A weight shared by several layers is initialized from the first of them; the others are
 * listed with the reason. Recurrent layers are listed too: init leaves them at g = ‖v‖.
 */
import type { NodeProto } from '../onnx/proto';
import { isDefaultDomain, type Graph } from '../ir/graph';
import { intAttribute } from '../ir/attributes';
import { elementCount, tensorDims } from '../tensor/values';
import { traceWeight, weightSlots } from './layers';
import { weightName, type WeightNormSpec } from './spec';

export type LayerKind = 'conv' | 'dense' | 'recurrent';

export interface WeightNormLayer {
  node: NodeProto;
  spec: WeightNormSpec;
  kind: LayerKind;
  /** The weight's dims as the layer sees it (after any Transpose). */
  dims: number[];
  /** Element type of the layer's output (the weight's type after any Cast). */
  type: number;
}

export interface UninitializedLayer {
  node: string;
  op: string;
  weight: string;
  reason: string;
}

const KINDS: Record<string, LayerKind> = {
  Conv: 'conv', ConvTranspose: 'conv', Gemm: 'dense', MatMul: 'dense', LSTM: 'recurrent', GRU: 'recurrent', RNN: 'recurrent',
};

export function weightNormLayers(graph: Graph): { layers: WeightNormLayer[]; skipped: UninitializedLayer[] } {
  const layers: WeightNormLayer[] = [];
  const skipped: UninitializedLayer[] = [];
  const firstReader = new Map<string, string>();
  for (const node of graph.nodes) {
    if (!isDefaultDomain(node)) continue;
    const kind = KINDS[node.op_type ?? ''];
    for (const slot of weightSlots(node)) {
      const traced = traceWeight(graph, node.input?.[slot.input] ?? '');
      if (traced.kind !== 'weight-norm') continue;
      const { spec, axisMap, type } = traced;
      const skip = (reason: string) => skipped.push({ node: node.name ?? '', op: node.op_type ?? '', weight: weightName(spec), reason });
      const v = graph.initializer(spec.v);
      if (!v) { skip(`its direction "${spec.v}" is not an initializer`); continue; }
      const first = firstReader.get(spec.weight);
      if (first !== undefined) { skip(`shares its weight with node "${first}", whose statistics set g`); continue; }
      firstReader.set(spec.weight, node.name ?? '');
      const sourceDims = tensorDims(v);
      const dims = axisMap.map((a) => sourceDims[a]);
      // g is stored in the source's axis order: a Transpose may not reorder the feature axes
      const layout = slot.layout(dims);
      const keptSource = typeof layout === 'string' ? [] : layout.keep.map((a) => axisMap[a] ?? a);
      if (keptSource.some((a, i) => i > 0 && a < keptSource[i - 1])) {
        skip('its weight reaches the layer through a Transpose that reorders the output features');
        continue;
      }
      if (spec.keep.join() !== [...keptSource].sort((a, b) => a - b).join()) {
        // an exporter's choice convert keeps: PyTorch's default dim=0 on ConvTranspose is per input channel
        skip(`its g has one value per index of axes [${spec.keep}] of the weight, not per output feature (axes [${keptSource}]); the paper's init sets one g per output feature`);
        continue;
      }
      layers.push({ node, spec, kind, dims, type });
    }
  }
  return { layers, skipped };
}

/** Output features of a layer, and the shape its per-feature bias has. */
export function layerFeatures(layer: WeightNormLayer): { features: number; biasDims: number[] } {
  const { node, dims } = layer;
  switch (node.op_type) {
    case 'Conv': return { features: dims[0], biasDims: [dims[0]] };
    case 'ConvTranspose': {
      const outputs = dims[1] * intAttribute(node, 'group', 1);
      return { features: outputs, biasDims: [outputs] };
    }
    case 'Gemm': {
      const n = intAttribute(node, 'transB', 0) ? dims[0] : dims[1];
      return { features: n, biasDims: [n] };
    }
    default: {
      // MatMul: [K] -> one feature; [K, N] -> N; [B.., K, N] -> B..·N, bias [B.., 1, N]
      if (dims.length === 1) return { features: 1, biasDims: [] };
      const n = dims[dims.length - 1];
      const batch = dims.slice(0, -2);
      return { features: elementCount(batch) * n, biasDims: batch.length ? [...batch, 1, n] : [n] };
    }
  }
}
