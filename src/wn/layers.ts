/**
 * Which inputs of which ops are weights, and along which axes one weight vector (one output
 * feature) lies. Shared by convert, inspect and init.
 *
 * Cases (keptAxes = the axes indexing output features; the norm runs over the others):
 *   1. Conv           W [O, C/G, k…]           kept [0]
 *   2. ConvTranspose  W [C, O/G, k…], G = 1    kept [1]
 *   3. ConvTranspose  G > 1: viewed as [G, C/G, O/G, k…], kept [0, 2] (one g per output channel;
 *                     a plain dim=1 norm would mix the groups)
 *   4. Gemm           B [K, N] kept [1]; transB: B [N, K] kept [0]
 *   5. MatMul         constant right operand [.., K, N] kept every axis but K; 1-D [K] kept none
 *   6. LSTM/GRU/RNN   W [D, G·H, I] and R [D, G·H, H]: kept [0, 1] (one g per gate row per direction)
 */
import type { NodeProto, TensorProto } from '../onnx/proto';
import { intAttribute, intsAttribute } from '../ir/attributes';
import { isDefaultDomain, type Graph } from '../ir/graph';
import { tensorDims } from '../tensor/values';
import { nodeSpec, type WeightNormSpec } from './spec';

export const WEIGHT_NORM_OPS = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'LSTM', 'GRU', 'RNN'] as const;
export type WeightNormOp = (typeof WEIGHT_NORM_OPS)[number];

export interface WeightSlot {
  /** Index of the weight among the node's inputs. */
  input: number;
  /** The weight as the layer sees it: kept axes, and a reshaped view when groups need one. */
  layout(dims: number[]): WeightLayout | string;
}

export interface WeightLayout {
  /** Shape the norm is taken in (the weight's shape unless groups need a view). */
  view: number[];
  /** Axes of `view` that index output features. */
  keep: number[];
}

const plain = (keep: (rank: number) => number[]) => (dims: number[]): WeightLayout => ({ view: dims, keep: keep(dims.length) });

export function weightSlots(node: NodeProto): WeightSlot[] {
  switch (node.op_type) {
    case 'Conv':
      return [{ input: 1, layout: plain(() => [0]) }];
    case 'ConvTranspose': {
      const groups = intAttribute(node, 'group', 1);
      return [{
        input: 1,
        layout: (dims) => {
          if (groups === 1) return { view: dims, keep: [1] };
          if (dims[0] % groups) return `its weight's first dim ${dims[0]} is not divisible by group=${groups}`;
          return { view: [groups, dims[0] / groups, ...dims.slice(1)], keep: [0, 2] };
        },
      }];
    }
    case 'Gemm': {
      const transB = intAttribute(node, 'transB', 0);
      return [{ input: 1, layout: plain(() => [transB ? 0 : 1]) }];
    }
    case 'MatMul':
      return [{ input: 1, layout: plain((rank) => [...Array(rank).keys()].filter((a) => a !== Math.max(rank - 2, 0))) }];
    case 'LSTM': case 'GRU': case 'RNN':
      return [1, 2].map((input) => ({ input, layout: plain(() => [0, 1]) }));
    default:
      return [];
  }
}

/** Maps axes of a Transpose output back to the axes of its input. */
function transposedAxes(node: NodeProto, rank: number, axes: number[]): number[] {
  const perm = intsAttribute(node, 'perm') ?? [...Array(rank).keys()].reverse();
  return axes.map((a) => perm[a]);
}

/** A weight that is a constant: its initializer, and axisMap[a] = the initializer axis of layer axis a. */
export interface ConstantWeight { kind: 'constant'; source: TensorProto; axisMap: number[]; transposed: boolean }
/** A weight convert made: its spec, the axis map as above, and the type the layer sees (after Casts). */
export interface WeightNormWeight { kind: 'weight-norm'; spec: WeightNormSpec; axisMap: number[]; type: number }
/**
 * A weight another node computes: `value` is what that node outputs, `chain` the Identity, Cast
 * and Transpose nodes from the layer back to it. It may be weight norm another tool wrote
 * (src/wn/foreign.ts).
 */
export interface ComputedWeight { kind: 'computed'; value: string; chain: NodeProto[]; reason: string }
export type TracedWeight = ConstantWeight | WeightNormWeight | ComputedWeight | { kind: 'dynamic'; reason: string };

/** Where a layer's weight comes from, following Identity, Cast and Transpose nodes back. */
export function traceWeight(graph: Graph, name: string): TracedWeight {
  const chain: NodeProto[] = [];  // from the layer back towards the source
  const axisMap = (rank: number) => chainAxisMap(chain, rank);
  for (let current = name; ;) {
    const source = graph.initializer(current);
    if (source) {
      const transposed = chain.some((n) => n.op_type === 'Transpose');
      return { kind: 'constant', source, axisMap: axisMap(tensorDims(source).length), transposed };
    }
    const producer = graph.producer(current);
    if (!producer) return { kind: 'dynamic', reason: `weight "${current}" is a graph input, not a constant` };
    const spec = nodeSpec(producer);
    if (spec) {
      const v = graph.initializer(spec.v);
      const cast = chain.find((n) => n.op_type === 'Cast');
      const type = cast ? intAttribute(cast, 'to', 0) : v?.data_type ?? 0;
      return { kind: 'weight-norm', spec, axisMap: axisMap(v ? tensorDims(v).length : 0), type };
    }
    if (!['Identity', 'Cast', 'Transpose'].includes(producer.op_type ?? '') || !isDefaultDomain(producer)) {
      const reason = `weight "${current}" is computed by ${producer.op_type} node "${producer.name}", not a constant`;
      return { kind: 'computed', value: current, chain, reason };
    }
    chain.push(producer);
    current = producer.input?.[0] ?? '';
  }
}

/** axisMap[a] = the axis of the chain's source that layer axis a comes from (a chain from the layer back). */
export function chainAxisMap(chain: readonly NodeProto[], rank: number): number[] {
  let map = [...Array(rank).keys()];
  for (const t of chain.filter((n) => n.op_type === 'Transpose')) map = transposedAxes(t, map.length, map);
  return map;
}

/** The layout of a layer's weight slot on the tensor of `sourceDims` it comes from through `axisMap`, or why there is none. */
export function layoutOnSource(sourceDims: number[], axisMap: number[], transposed: boolean, slot: WeightSlot): WeightLayout | string {
  const layerDims = axisMap.map((a) => sourceDims[a]);
  const layout = slot.layout(layerDims);
  if (typeof layout === 'string') return layout;
  if (layout.view !== layerDims) {
    return transposed ? 'a grouped weight reached through Transpose is not supported' : layout;
  }
  return { view: sourceDims, keep: layout.keep.map((a) => axisMap[a]).sort((a, b) => a - b) };
}

/** The layout of a layer's weight slot on its source initializer, or why there is none. */
export function sourceLayout(traced: ConstantWeight, slot: WeightSlot): WeightLayout | string {
  return layoutOnSource(tensorDims(traced.source), traced.axisMap, traced.transposed, slot);
}
