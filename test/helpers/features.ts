/**
 * What g means, checked independently of the library's layout code: right after convert any
 * choice of norm axes reproduces W exactly, so matching outputs cannot tell a wrong axis. Here
 * one gain g[f] of every converted weight is scaled, and the result must equal the original model
 * with output feature f of that layer's weight scaled (a Mul by a 0/1-style mask in front of the
 * layer, built from this file's own reading of each op's weight layout):
 *
 *   Conv           W [O, C/G, k…]        feature o: W[o, …]
 *   ConvTranspose  W [C, O/G, k…], G     feature o = grp·(O/G) + m: W[grp·C/G … (grp+1)·C/G - 1, m, …]
 *   Gemm           B [K, N] / transB [N, K]   feature n: column / row n
 *   MatMul         B [b…, K, N]          feature (b…, n): B[b…, :, n]; 1-D B [K]: one feature
 *   LSTM/GRU/RNN   W, R [D, G·H, X]      feature (d, r): W[d, r, :]
 *
 * Features are numbered row-major over those coordinates, which is also g's element order (g has
 * W's shape with the normalized axes set to 1, as PyTorch's weight_g).
 */
import * as assert from 'node:assert/strict';
import type { NodeProto } from '../../src/onnx/proto';
import type { Model } from '../../src/ir/model';
import type { ConvertReport } from '../../transforms/weight-norm';
import { intAttribute, intsAttribute } from '../../src/ir/attributes';
import { tensorValueInfo } from '../../src/ir/graph';
import { floatTensor, floatsToRaw, readFloats, tensorDims, elementCount } from '../../src/tensor/values';
import { weightSlots } from '../../src/wn/layers';
import type { DataType } from '../../src/onnx/enums';

export const GAIN = 1.5;

/** Row-major strides of a shape. */
function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Every element index whose coordinates satisfy `inFeature`. */
function elementsWhere(dims: readonly number[], inFeature: (coords: number[]) => boolean): number[] {
  const out: number[] = [];
  const st = strides(dims);
  for (let i = 0; i < elementCount(dims); i++) {
    const coords = dims.map((d, a) => Math.floor(i / st[a]) % d);
    if (inFeature(coords)) out.push(i);
  }
  return out;
}

interface FeatureLayout { count: number; elements(f: number): number[] }

/** Output features of a layer's weight, in the layer's own view of it. */
export function featureLayout(node: NodeProto, slotInput: number, dims: readonly number[]): FeatureLayout {
  const rank = dims.length;
  switch (node.op_type) {
    case 'Conv':
      return { count: dims[0], elements: (f) => elementsWhere(dims, (c) => c[0] === f) };
    case 'ConvTranspose': {
      const groups = intAttribute(node, 'group', 1);
      const perGroupIn = dims[0] / groups;
      const perGroupOut = dims[1];
      return {
        count: groups * perGroupOut,
        elements: (f) => {
          const grp = Math.floor(f / perGroupOut);
          const m = f % perGroupOut;
          return elementsWhere(dims, (c) => Math.floor(c[0] / perGroupIn) === grp && c[1] === m);
        },
      };
    }
    case 'Gemm': {
      const axis = intAttribute(node, 'transB', 0) ? 0 : 1;
      return { count: dims[axis], elements: (f) => elementsWhere(dims, (c) => c[axis] === f) };
    }
    case 'MatMul': {
      if (rank === 1) return { count: 1, elements: () => elementsWhere(dims, () => true) };
      const kept = [...dims.keys()].filter((a) => a !== rank - 2);
      const keptDims = kept.map((a) => dims[a]);
      const keptStrides = strides(keptDims);
      return {
        count: elementCount(keptDims),
        elements: (f) => elementsWhere(dims, (c) => kept.every((a, i) => c[a] === Math.floor(f / keptStrides[i]) % keptDims[i])),
      };
    }
    case 'LSTM': case 'GRU': case 'RNN':
      assert.ok(slotInput === 1 || slotInput === 2);
      return { count: dims[0] * dims[1], elements: (f) => elementsWhere(dims, (c) => c[0] * dims[1] + c[1] === f) };
    default:
      throw new Error(`featureLayout: no layout for ${node.op_type}`);
  }
}

/** The layer reading a weight, with the weight's axes as the layer sees them (through at most one Transpose). */
function readerOf(model: Model, weight: string): { node: NodeProto; slot: number; perm: number[] } {
  const graph = model.graph;
  const found: { node: NodeProto; slot: number; perm: number[] }[] = [];
  const rank = tensorDims(graph.initializer(weight)!).length;
  for (const node of graph.nodes) {
    for (const slot of weightSlots(node)) {
      const input = node.input?.[slot.input];
      if (!input) continue;
      if (input === weight) { found.push({ node, slot: slot.input, perm: [...Array(rank).keys()] }); continue; }
      const producer = graph.producer(input);
      if (producer?.op_type === 'Transpose' && producer.input?.[0] === weight) {
        found.push({ node, slot: slot.input, perm: intsAttribute(producer, 'perm') ?? [...Array(rank).keys()].reverse() });
      }
    }
  }
  assert.equal(found.length, 1, `weight "${weight}": the gain check expects exactly one layer reading it (directly or through a Transpose), found ${found.length}`);
  return found[0];
}

/** The feature picked for a weight: the middle one. */
export function pickedFeature(count: number): number {
  return Math.floor(count / 2);
}

/**
 * Scales feature `pickedFeature` of every converted weight of `original` (a plain model) by GAIN,
 * through a Mul in front of each reading layer. Returns the modified model (mutated in place).
 */
export function scaleWeightFeatures(original: Model, report: ConvertReport): Model {
  const graph = original.graph;
  const proto = graph.proto;
  for (const w of report.converted) {
    const source = graph.initializer(w.weight);
    assert.ok(source, `"${w.weight}" is an initializer of the original model`);
    const { node, slot, perm } = readerOf(original, w.weight);
    const dims = tensorDims(source);
    const layerDims = perm.map((a) => dims[a]);
    const layout = featureLayout(node, slot, layerDims);
    const mask = new Float64Array(elementCount(layerDims)).fill(1);
    for (const i of layout.elements(pickedFeature(layout.count))) mask[i] = GAIN;
    const type = (source.data_type ?? 0) as DataType;
    const maskName = `${w.weight}/test_feature_mask`;
    const scaled = `${w.weight}/test_feature_scaled`;
    proto.initializer!.push(floatTensor(maskName, type, layerDims, mask));
    if (original.initializersAreInputs) proto.input!.push(tensorValueInfo(maskName, type, layerDims));
    const layerInput = node.input![slot];
    node.input![slot] = scaled;
    const at = proto.node!.indexOf(node);
    proto.node!.splice(at, 0, { name: `${scaled}/mul`, op_type: 'Mul', domain: '', input: [layerInput, maskName], output: [scaled] });
  }
  return original;
}

/** Scales g[pickedFeature] of every converted weight of a converted model, in place; checks g's size. */
export function scaleGains(converted: Model, report: ConvertReport, original: Model): Model {
  for (const w of report.converted) {
    const { node, slot, perm } = readerOf(original, w.weight);
    const dims = tensorDims(original.graph.initializer(w.weight)!);
    const layout = featureLayout(node, slot, perm.map((a) => dims[a]));
    const g = converted.graph.initializer(w.g);
    assert.ok(g, `g "${w.g}" is an initializer`);
    const values = Float64Array.from(readFloats(g));
    assert.equal(values.length, layout.count, `g of "${w.weight}" (${node.op_type}) has ${values.length} elements, the layer has ${layout.count} output features`);
    if (layout.count > 1 && perm.some((a, i) => a !== i)) {
      const gDims = tensorDims(g).filter((d) => d > 1);
      assert.equal(gDims.length, 1, `"${w.weight}" is read through a Transpose with several kept axes: not handled by the gain check`);
    }
    values[pickedFeature(layout.count)] *= GAIN;
    g.raw_data = floatsToRaw(values, (g.data_type ?? 0) as DataType);
  }
  return converted;
}
