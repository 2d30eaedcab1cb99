/**
 * The step graph's 2-D Convs on ONNX Runtime's NCHWc kernels (src/runtime/nchwc.ts): the CPU
 * provider's fastest convolutions, which its optimizer picks only where a Conv's weights are
 * constants. A training step computes its weights (W = g·v/‖v‖, the reversed kernel of an input
 * gradient), so ONNX Runtime runs those Convs on its generic path: per sample an im2col and a
 * GEMM. Here each becomes: its input reordered into channel blocks (ReorderInput), its weights
 * into blocked filters (Pad, Reshape, Transpose: a few thousand values), the NCHWc Conv, and the
 * output back (ReorderOutput). Measured on the bundled CNN's conv2 (100×16×14×14, 32 filters
 * of 3×3, 2 threads): 1.47 ms generic against 0.79 ms NCHWc plus 0.13 ms of reordering.
 *
 * MaxPools with Indices of tiling windows follow (src/train/nchwc-pool.ts), reading a lowered
 * Conv's NCHWc output where there is one.
 *
 * 1-D Convs stay (a 2-D Conv of height 1 would run them): on the vocoder of bench/scale.ts,
 * whose 1-D Convs run over thousands of samples, ONNX Runtime's generic GEMMs are large and
 * fast already, and its step took 834–981 ms with them on NCHWc kernels against 790–912 ms.
 *
 * The block size is the machine's, so this is a lowering of the session's graph only: the
 * step graph the trainer keeps, and exports, stays plain ONNX.
 */
import Long from 'long';
import type { NodeProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
import { Model } from '../ir/model';
import { Builder } from '../ir/builder';
import type { Graph } from '../ir/graph';
import { intAttribute } from '../ir/attributes';
import type { ValueType } from '../ir/value-types';
import { readInts } from '../tensor/values';
import { sameAttributes } from '../autodiff/grads/conv-geometry';
import { blockedCount, NCHWC_DOMAIN } from '../runtime/nchwc';
import { copyGraph } from './step-graph';
import { lowerMaxPoolsToNchwc } from './nchwc-pool';

/** Ops that only move or pick values: a weight computed through them has its source's element type. */
const VALUE_PRESERVING = new Set(['Reshape', 'Transpose', 'Gather', 'Identity', 'Squeeze', 'Unsqueeze']);

/**
 * A copy of `model` with its float32 2-D Convs (group 1, computed weights of known shape) and
 * its MaxPools with Indices of tiling windows (src/train/nchwc-pool.ts) on NCHWc kernels of
 * `block` channels, with no reordering out and back in between them; `model` itself when there
 * are none or `block` is 0.
 */
export function lowerToNchwc(model: Model, types: ReadonlyMap<string, ValueType>, block: number): Model {
  if (block <= 1) return model;
  const lowered = new Model({ ...model.proto, graph: copyGraph(model.graph.proto) });
  const graph = lowered.graph;
  const opset = model.defaultOpset();
  let count = 0;
  // a weight read by several Convs (mean-only BN's Conv of the mean sample) is reordered once
  const filters = new Map<string, string>();
  for (const node of [...graph.nodes]) {
    const weights = node.op_type === 'Conv' && !node.domain ? nchwcWeights(graph, types, node, block) : undefined;
    if (!weights) continue;
    replaceConv(graph, opset, node, weights, block, filters);
    count++;
  }
  count += lowerMaxPoolsToNchwc(graph, opset, types, block);
  if (!count) return model;
  skipReorderRoundTrips(graph, block);
  lowered.proto.opset_import = [...(lowered.proto.opset_import ?? []), { domain: NCHWC_DOMAIN, version: Long.fromNumber(1) }];
  return lowered;
}

/** The Conv's weight dims where the NCHWc kernels take it: 2-D, group 1, float32, channels they can block. */
function nchwcWeights(graph: Graph, types: ReadonlyMap<string, ValueType>, node: NodeProto, block: number): number[] | undefined {
  const w = node.input?.[1] ?? '';
  // constant weights: ONNX Runtime's own optimizer reorders them once, at load
  if (graph.initializer(w) || intAttribute(node, 'group', 1) !== 1) return undefined;
  const facts = weightFacts(graph, types, w);
  if (!facts || facts.type !== DataType.FLOAT || facts.dims.length !== 4) return undefined;
  const channels = facts.dims[1];
  // ReorderInput takes channel counts in multiples of 4; fewer channels than a block are read as they are
  return channels < block || channels % 4 === 0 ? facts.dims : undefined;
}

/** Dims and element type of a Conv's weights: probed, or the constant shape of the Reshape that makes them. */
function weightFacts(graph: Graph, types: ReadonlyMap<string, ValueType>, w: string): { dims: number[]; type: DataType } | undefined {
  const known = types.get(w);
  if (known) return known.dims.every((d) => d !== null) ? { dims: known.dims as number[], type: known.type } : undefined;
  const producer = graph.producer(w);
  const shape = producer?.op_type === 'Reshape' && !producer.domain ? graph.initializer(producer.input?.[1] ?? '') : undefined;
  if (!shape) return undefined;
  const dims = readInts(shape);
  const type = elementType(graph, types, producer!.input![0]);
  return type !== undefined && dims.every((d) => d > 0) ? { dims, type } : undefined;
}

function elementType(graph: Graph, types: ReadonlyMap<string, ValueType>, name: string): DataType | undefined {
  for (let value = name, hops = 0; hops < 16; hops++) {
    const known = types.get(value) ?? graph.initializer(value);
    if (known) return 'type' in known ? known.type : (known.data_type as DataType);
    const producer = graph.producer(value);
    if (!producer || producer.domain || !VALUE_PRESERVING.has(producer.op_type ?? '')) return undefined;
    value = producer.input![0];
  }
  return undefined;
}

function replaceConv(graph: Graph, opset: number, node: NodeProto, dims: number[], block: number, filters: Map<string, string>): void {
  const outChannels = dims[0];
  const b = new Builder(graph, opset, `${node.name || node.output![0]}/nchwc`, 'wn-onnx training step: Conv on NCHWc kernels');
  const [x, w, bias] = node.input!;
  // inputs of fewer channels than a block stay as they are (ONNX Runtime's NCHW-input kernel)
  const inBlocks = dims[1] >= block;
  const input = inBlocks ? b.customOp(NCHWC_DOMAIN, 'ReorderInput', [x]) : x;
  const filter = filters.get(w) ?? blockedFilter(b, w, dims, block, inBlocks);
  filters.set(w, filter);
  const inputs = [input, filter];
  if (bias) inputs.push(zeroPadded(b, bias, [0, blockedCount(outChannels, block) - outChannels]));
  const relu = fusedRelu(graph, node);
  const attributes = { ...sameAttributes(node), ...(relu ? { activation: 'Relu' } : {}) };
  const output = b.customOp(NCHWC_DOMAIN, 'Conv', inputs, attributes);
  const result = relu ? relu.output![0] : node.output![0];
  b.customOp(NCHWC_DOMAIN, 'ReorderOutput', [output], { channels: outChannels }, 'ReorderOutput', result);
  b.replace(relu ? [node, relu] : [node], [result]);
}

function zeroPadded(b: Builder, value: string, pads: number[]): string {
  return pads.every((p) => p === 0) ? value : b.pad(value, pads);
}

/** Weights `w` (OIHW, `dims`) padded to whole blocks and laid out as the NCHWc Conv reads them. */
function blockedFilter(b: Builder, w: string, dims: number[], block: number, inBlocks: boolean): string {
  const [outChannels, channels, ...kernel] = dims;
  const outBlocked = blockedCount(outChannels, block);
  const inChannels = inBlocks ? blockedCount(channels, block) : channels;
  const padded = zeroPadded(b, w, [0, 0, 0, 0, outBlocked - outChannels, inChannels - channels, 0, 0]);
  // OIHW → [O/B][I/B][H][W][Bi][Bo] (blocked input) or [O/B][I][H][W][Bo]
  const [axes, perm] = inBlocks
    ? [[outBlocked / block, block, inChannels / block, block, ...kernel], [0, 2, 4, 5, 3, 1]]
    : [[outBlocked / block, block, channels, ...kernel], [0, 2, 3, 4, 1]];
  const blocks = b.op('Transpose', [b.reshape(padded, axes, 'split')], { perm });
  return b.reshape(blocks, [outBlocked, inChannels, ...kernel], 'filter');
}

/** The Relu that alone reads the Conv's output, which the NCHWc Conv then applies itself. */
function fusedRelu(graph: Graph, node: NodeProto): NodeProto | undefined {
  const out = node.output![0];
  const readers = graph.consumers(out);
  if (readers.length !== 1 || graph.isGraphOutput(out)) return undefined;
  const [reader] = readers;
  return reader.op_type === 'Relu' && !reader.domain ? reader : undefined;
}

/**
 * ReorderInput of a ReorderOutput whose channels fill whole blocks gives back the NCHWc tensor
 * it started from (a pool's or a Conv's output read by the next NCHWc Conv): its readers take
 * that directly.
 */
function skipReorderRoundTrips(graph: Graph, block: number): void {
  for (const reorder of [...graph.nodes]) {
    if (reorder.domain !== NCHWC_DOMAIN || reorder.op_type !== 'ReorderInput') continue;
    const back = graph.producer(reorder.input![0]);
    const whole = back?.domain === NCHWC_DOMAIN && back.op_type === 'ReorderOutput' && intAttribute(back, 'channels', 0) % block === 0;
    const out = reorder.output![0];
    if (!whole || graph.isGraphOutput(out)) continue;
    for (const reader of [...graph.consumers(out)]) graph.redirectInput(reader, out, back!.input![0]);
    graph.removeNodes([reorder]);
  }
}
