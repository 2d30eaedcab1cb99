/**
 * How convert --mean-only-bn marks what it inserts (paper section 4: y = φ(t − μ_B[t] + b)).
 * In the model as saved (inference form) one node per layer computes the layer's bias as
 * b − running_mean, so the layer subtracts its running mean of t and adds b; the node's
 * doc_string is MEAN_ONLY_BN_MARKER followed by the JSON spec. Training lowers it to the batch
 * mean (src/train/train-mode.ts), fold folds it into one bias, init sets b and the running mean.
 */
import type { NodeProto } from '../onnx/proto';
import type { Graph } from '../ir/graph';
import { WnError } from '../errors';
import { readMark } from './spec';

export const MEAN_ONLY_BN_MARKER = 'wn-onnx mean_only_bn: y = t - mean(t) + b; saved as bias = b - running_mean ';

export interface MeanOnlyBnSpec {
  /** The layer's node name. */
  layer: string;
  /** The bias added after the centering, and the running mean of t (same shape: one value per feature). */
  bias: string;
  runningMean: string;
  /** Axis of the layer's output that indexes features: 1 (Conv, ConvTranspose) or -1, the last (Gemm, MatMul). */
  featureAxis: number;
}

export function meanOnlyBnDocString(spec: MeanOnlyBnSpec): string {
  return MEAN_ONLY_BN_MARKER + JSON.stringify(spec);
}

/** The spec a node carries, or undefined for a node convert --mean-only-bn did not insert; a damaged one is an error. */
export function meanOnlyBnSpec(node: NodeProto): MeanOnlyBnSpec | undefined {
  const mark = readMark(node, MEAN_ONLY_BN_MARKER);
  if (!mark) return undefined;
  const spec = mark.json as MeanOnlyBnSpec | undefined;
  const named = (x: unknown) => typeof x === 'string' && x.length > 0;
  const fine = spec && typeof spec === 'object' && named(spec.layer) && named(spec.bias) && named(spec.runningMean)
    && (spec.featureAxis === 1 || spec.featureAxis === -1);
  const inputs = node.input ?? [];
  if (!fine || node.op_type !== 'Sub' || inputs[0] !== spec!.bias || inputs[1] !== spec!.runningMean) {
    throw new WnError(`node "${node.name}": its wn-onnx mean_only_bn mark is damaged; re-run convert --mean-only-bn on the original model`);
  }
  return spec;
}

/** A marked node, its spec, and the node that reads the bias it computes (the layer, or MatMul's Add). */
export interface MeanOnlyBn { spec: MeanOnlyBnSpec; node: NodeProto; reader: NodeProto }

/** Every mean-only BN of a graph, in graph order; each marked bias must have exactly one reader. */
export function meanOnlyBatchNorms(graph: Graph): MeanOnlyBn[] {
  const found: MeanOnlyBn[] = [];
  for (const node of graph.nodes) {
    const spec = meanOnlyBnSpec(node);
    if (!spec) continue;
    const readers = graph.consumers(node.output![0]);
    if (readers.length !== 1 || graph.isGraphOutput(node.output![0])) {
      const fix = 're-run convert --mean-only-bn on the original model';
      throw new WnError(`mean-only BN of layer "${spec.layer}": its bias "${node.output![0]}" must be read by the layer alone; ${fix}`);
    }
    found.push({ spec, node, reader: readers[0] });
  }
  return found;
}
