/**
 * addLayerBiases: gives every weight-normalized layer a per-feature bias of its own, so that
 * data-dependent init can set the mean of its pre-activation. Adding a zero bias does not change
 * what the model computes.
 *
 * Cases:
 *   1. Conv, ConvTranspose, Gemm: their bias input; a missing one is added (zeros). Gemm with
 *      beta = 0 ignores C: beta becomes 1 and C a new zero bias. The bias is scaled by beta.
 *   2. MatMul: the Add with a constant that is its only reader; else a new Add after it (the
 *      MatMul's output is renamed, the Add produces the old name, so readers are untouched).
 *   3. A bias reached through Identity nodes is followed to its initializer.
 *   4. A bias initializer read by anything else too is split: this layer gets its own copy.
 *   5. A bias of one element broadcast over the features becomes a per-feature copy.
 *   6. A bias that is not a constant, or not per feature (Gemm C of [M, N]): the layer is
 *      reported and left out of the init.
 *   7. A bias convert --mean-only-bn made (b − running mean, src/wn/mean-only-bn.ts): its b and
 *      running mean.
 */
import type { NodeProto, TensorProto } from '../onnx/proto';
import { floatAttribute, makeAttribute } from '../ir/attributes';
import { isDefaultDomain, type Graph } from '../ir/graph';
import type { Model } from '../ir/model';
import { elementCount, floatTensor, readFloats, tensorDims } from '../tensor/values';
import { layerFeatures, weightNormLayers, type UninitializedLayer, type WeightNormLayer } from './wn-layers';
import { weightName } from './spec';
import { meanOnlyBnSpec } from './mean-only-bn';

export interface BiasedLayer extends WeightNormLayer {
  /** The initializer holding this layer's own bias. */
  bias: string;
  /** Mean-only BN's running mean: the layer adds biasScale · (bias − runningMean). */
  runningMean?: string;
  /** The layer adds biasScale · bias (Gemm's beta; 1 elsewhere). */
  biasScale: number;
  /** The value after the bias: what init normalizes. */
  preActivation: string;
  features: number;
}

export interface LayerBiasReport {
  added: { node: string; bias: string }[];
  split: { node: string; from: string; bias: string }[];
  skipped: UninitializedLayer[];
}

/** Where a layer's bias went, or why it has none. */
type Placement = Pick<BiasedLayer, 'bias' | 'biasScale' | 'preActivation' | 'runningMean'> | { reason: string };

const stripLeadingOnes = (dims: number[]) => dims.slice(Math.max(0, dims.findIndex((d) => d !== 1)));
const sameDims = (a: number[], b: number[]) => stripLeadingOnes(a).join() === stripLeadingOnes(b).join()
  || (elementCount(a) === 1 && elementCount(b) === 1);

/** The initializer a value comes from through Identity nodes, with the values on the way. */
function traceConstant(graph: Graph, name: string): { tensor: TensorProto; path: string[] } | undefined {
  const path = [name];
  for (let current = name; ;) {
    const tensor = graph.initializer(current);
    if (tensor) return { tensor, path };
    const producer = graph.producer(current);
    if (!producer || producer.op_type !== 'Identity' || !isDefaultDomain(producer)) return undefined;
    current = producer.input?.[0] ?? '';
    path.push(current);
  }
}

export function addLayerBiases(model: Model): { layers: BiasedLayer[]; recurrent: WeightNormLayer[]; report: LayerBiasReport } {
  const graph = model.graph;
  const found = weightNormLayers(graph);
  const report: LayerBiasReport = { added: [], split: [], skipped: [...found.skipped] };
  const layers: BiasedLayer[] = [];
  const recurrent = found.layers.filter((l) => l.kind === 'recurrent');

  for (const layer of found.layers.filter((l) => l.kind !== 'recurrent')) {
    const { node } = layer;
    const { features, biasDims } = layerFeatures(layer);
    const nodeName = node.name ?? '';

    /** A fresh zero bias for this layer. */
    const newBias = (values?: Float32Array | Float64Array): string => {
      const weight = weightName(layer.spec);
      const base = weight.endsWith('weight') ? `${weight.slice(0, -6)}bias` : `${weight}_bias`;
      const name = graph.uniqueName(base);
      const data = new Float64Array(features);
      if (values) data.fill(values[0]);
      model.addInitializers([floatTensor(name, layer.type, biasDims, data)]);
      report.added.push({ node: nodeName, bias: name });
      return name;
    };

    /** This layer's own bias initializer for the value `name` read by `reader`, or why there is none. */
    const ownBias = (reader: NodeProto, index: number, name: string): { bias: string; runningMean?: string } | { reason: string } => {
      const producer = graph.producer(name);
      const meanOnly = producer && meanOnlyBnSpec(producer);
      if (meanOnly) return { bias: meanOnly.bias, runningMean: meanOnly.runningMean };
      const traced = traceConstant(graph, name);
      if (!traced) return { reason: `its bias "${name}" is not a constant` };
      const { tensor, path } = traced;
      if (tensor.data_type !== layer.type) return { reason: `its bias "${tensor.name}" is not of the layer's type` };
      const dims = tensorDims(tensor);
      if (!sameDims(dims, biasDims)) {
        if (elementCount(dims) !== 1) return { reason: `its bias "${tensor.name}" of shape [${dims}] is not one value per output feature` };
        const replacement = newBias(readFloats(tensor));
        graph.setNodeInput(reader, index, replacement);
        return { bias: replacement };
      }
      const readers = new Set(path.flatMap((p) => graph.consumers(p)));
      const shared = [...readers].some((r) => r !== reader && !path.includes(r.output?.[0] ?? ''))
        || path.some((p) => graph.isGraphOutput(p));
      if (!shared) return { bias: tensor.name ?? '' };
      const copy = graph.uniqueName(`${tensor.name}_own`);
      model.addInitializers([floatTensor(copy, layer.type, dims, readFloats(tensor))]);
      graph.setNodeInput(reader, index, copy);
      report.split.push({ node: nodeName, from: tensor.name ?? '', bias: copy });
      return { bias: copy };
    };

    /** MatMul: the Add with a constant that is its only reader, else a new Add producing the MatMul's old output name. */
    const matMulBias = (): Placement => {
      const product = node.output?.[0] ?? '';
      const readers = graph.consumers(product);
      const add = readers.length === 1 && !graph.isGraphOutput(product) && readers[0].op_type === 'Add' && isDefaultDomain(readers[0]) ? readers[0] : undefined;
      if (add) {
        const other = add.input?.[0] === product ? 1 : 0;
        const existing = ownBias(add, other, add.input?.[other] ?? '');
        if ('bias' in existing) return { ...existing, biasScale: 1, preActivation: add.output?.[0] ?? '' };
      }
      const bias = newBias();
      const renamed = graph.uniqueName(`${product}_matmul`);
      const at = graph.nodes.indexOf(node);
      graph.setNodeOutput(node, 0, renamed);
      graph.insertNodes([{ name: graph.uniqueName(`${nodeName || product}_bias`), op_type: 'Add', domain: '', input: [renamed, bias], output: [product] }], at + 1);
      return { bias, biasScale: 1, preActivation: product };
    };

    /** Conv, ConvTranspose, Gemm: the bias input (Gemm adds beta · C). */
    const inputBias = (): Placement => {
      const preActivation = node.output?.[0] ?? '';
      const beta = node.op_type === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
      const given = node.input?.[2];
      if (given && beta !== 0) {
        const own = ownBias(node, 2, given);
        return 'bias' in own ? { ...own, biasScale: beta, preActivation } : own;
      }
      // beta = 0 ignores C: the new bias needs beta = 1
      if (beta === 0) node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== 'beta'), makeAttribute('beta', { float: 1 })];
      const bias = newBias();
      graph.setNodeInput(node, 2, bias);
      return { bias, biasScale: 1, preActivation };
    };

    const placed = node.op_type === 'MatMul' ? matMulBias() : inputBias();
    if ('reason' in placed) {
      report.skipped.push({ node: nodeName, op: node.op_type ?? '', weight: weightName(layer.spec), reason: placed.reason });
      continue;
    }
    layers.push({ ...layer, ...placed, features });
  }
  return { layers, recurrent, report };
}
