/**
 * fold: the inverse of convert. Evaluates W = g · v / max(‖v‖, eps) (norms in float64), removes
 * the nodes convert inserted and the g/v parameters, and restores W as an initializer where v
 * stood, so the model has exactly its original operators again. Works on models trained in WN
 * form too: whatever g and v hold is folded.
 *
 * Cases:
 *   1. groups are found by the spec convert wrote into each node's doc_string (src/wn/spec.ts);
 *   2. W ends up in v's raw bytes (computed in place, in blocks where they are unaligned;
 *      half precision through a widened copy written back);
 *   3. g/v listed as graph inputs (IR < 4, or overridable) are replaced there by W, and the
 *      helper constants convert listed as inputs are dropped;
 *   4. g or v not initializers (fed at run time) or of the wrong size: a clear error.
 */
import { DataType } from '../src/onnx/enums';
import type { TensorProto } from '../src/onnx/proto';
import { withoutFields } from '../src/onnx/codec';
import { initializerInfo, type Model } from '../src/ir/model';
import { featureNorms, scaleFeatures } from '../src/tensor/norms';
import { elementCount, floatStorage, floatsToRaw, readFloats, tensorDims } from '../src/tensor/values';
import { gShape, weightNormGroups, type WeightNormSpec } from '../src/wn/spec';
import { WnError } from '../src/errors';

export interface FoldReport {
  folded: { weight: string; g: string; v: string; shape: number[] }[];
}

function parameter(model: Model, spec: WeightNormSpec, name: string, expected: number[]): TensorProto {
  const tensor = model.graph.initializer(name);
  if (!tensor) {
    throw new WnError(`cannot fold "${spec.weight}": its parameter "${name}" is not an initializer of the model (is it fed as an input?)`);
  }
  const dims = tensorDims(tensor);
  if (elementCount(dims) !== elementCount(expected)) {
    throw new WnError(`cannot fold "${spec.weight}": parameter "${name}" has shape [${dims}], expected [${expected}]`);
  }
  return tensor;
}

/** W from g and v, in v's type, computed in v's bytes so the model never holds a second copy. */
function foldedWeight(spec: WeightNormSpec, g: TensorProto, v: TensorProto): TensorProto {
  const values = floatStorage(v);
  const norms = featureNorms(values, spec.view, spec.keep);
  const gains = readFloats(g);
  const scale = norms.map((norm, f) => gains[f] / Math.max(norm, spec.eps));
  scaleFeatures(values, spec.view, spec.keep, scale);
  const weight = withoutFields(v, ['name', 'raw_data', 'float_data', 'double_data', 'int32_data']);
  weight.name = spec.weight;
  const raw = v.raw_data;
  const inPlace = 'bytes' in values || (raw !== undefined && raw.buffer === values.buffer && raw.byteOffset === values.byteOffset);
  if (inPlace) {
    weight.raw_data = raw;
    return weight;
  }
  // values were widened (half precision) or came from the typed fields
  const scaled = floatsToRaw(values, (v.data_type ?? 0) as DataType);
  if (raw && raw.length === scaled.length) raw.set(scaled);
  weight.raw_data = raw && raw.length === scaled.length ? raw : scaled;
  return weight;
}

export function fold(model: Model): { model: Model; report: FoldReport } {
  const graph = model.graph;
  const report: FoldReport = { folded: [] };
  for (const { spec, nodes } of weightNormGroups(graph.nodes).values()) {
    const v = parameter(model, spec, spec.v, spec.view);
    const g = parameter(model, spec, spec.g, gShape(spec.view, spec.keep));
    const weight = foldedWeight(spec, g, v);
    const constants = new Set(nodes.flatMap((n) => n.input ?? []).filter((i) => i !== spec.g && i !== spec.v && graph.initializer(i)));

    graph.removeNodes(nodes, [spec.weight]);
    const otherReader = graph.consumers(spec.v)[0];
    if (otherReader) throw new WnError(`cannot fold "${spec.weight}": its direction "${spec.v}" is also read by node "${otherReader.name}"`);
    const vInput = graph.graphInputIndex(spec.v);
    graph.replaceInitializer(spec.v, [weight]);
    const removedInputs = new Set<string>([spec.g]);
    for (const name of [spec.g, ...constants]) {
      if (graph.consumers(name).length || graph.isGraphOutput(name)) continue;
      graph.removeInitializer(name);
      removedInputs.add(name);
    }
    if (vInput >= 0) graph.replaceGraphInput(spec.v, [initializerInfo(weight)]);
    graph.removeGraphInputs(removedInputs);
    report.folded.push({ weight: spec.weight, g: spec.g, v: spec.v, shape: tensorDims(weight) });
  }
  graph.pruneValueInfo();
  return { model, report };
}
