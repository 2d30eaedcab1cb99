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
 *   4. g or v not initializers (fed at run time) or of the wrong size: a clear error;
 *   5. weight norm another tool wrote (src/wn/foreign.ts), proved numerically: the layer's weight
 *      becomes an initializer of what the graph computes, in the layer's own layout (Identity,
 *      Cast and Transpose on the way are folded too), named as the exporter's plain weight
 *      (`conv.weight` for `conv.weight_g`/`_v`), and the norm arithmetic and every constant only
 *      it read are removed; a near miss is left alone and reported;
 *   6. weight norm convert adopted from an exporter: as 1, then as 5 (the exporter's plain form);
 *   7. mean-only BN (convert --mean-only-bn): the layer's bias becomes b − running mean, an
 *      initializer under b's name, and the marked Sub and the running mean go.
 */
import { DataType } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { withoutFields } from '../src/onnx/codec';
import { initializerInfo, type Model } from '../src/ir/model';
import { isDefaultDomain } from '../src/ir/graph';
import { intAttribute } from '../src/ir/attributes';
import { Evaluator } from '../src/ir/evaluate';
import { featureNorms, scaleFeatures } from '../src/tensor/norms';
import { elementCount, floatStorage, floatsToRaw, floatTensor, readFloats, tensorDims, withFloatValues } from '../src/tensor/values';
import { computeType, gShape, weightNormGroups, type ForeignForm, type WeightNormSpec } from '../src/wn/spec';
import { traceWeight, weightSlots } from '../src/wn/layers';
import { foreignWeightNorm, plainWeightName } from '../src/wn/foreign';
import { WnError } from '../src/errors';
import { meanOnlyBatchNorms } from '../src/wn/mean-only-bn';

export interface FoldReport {
  /** Each folded weight, with who wrote its weight norm. */
  folded: { weight: string; g: string; v: string; shape: number[]; form: 'wn-onnx' | ForeignForm }[];
  /** Mean-only BN folded into the layer's bias. */
  meanOnlyBn: { layer: string; bias: string }[];
  /** Layer weights that look like weight norm an exporter wrote but are not, left as they are. */
  skipped: { node: string; input: string; reason: string }[];
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

/**
 * W from g and v, computed in v's bytes so the model never holds a second copy; in `type` where
 * the marked nodes give W another type than v's (adopted weight norm over float16 g and v that
 * the layer reads as float32).
 */
function foldedWeight(spec: WeightNormSpec, g: TensorProto, v: TensorProto, type: DataType): TensorProto {
  const values = floatStorage(v);
  const norms = featureNorms(values, spec.view, spec.keep);
  const gains = readFloats(g);
  const scale = norms.map((norm, f) => gains[f] / Math.max(norm, spec.eps));
  scaleFeatures(values, spec.view, spec.keep, scale);
  if (type !== v.data_type) return floatTensor(spec.weight, type, tensorDims(v), 'bytes' in values ? readFloats(v) : values);
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

const LAYOUT = new Set(['Identity', 'Cast', 'Transpose']);

/**
 * Makes what the layers read from `root` initializers: `root` itself, or what it becomes
 * through Identity, Cast and Transpose nodes on the way (evaluated, so folded too), named `name`
 * (`name_1` … for more than one), and removes `computedBy` and those nodes where nobody else
 * reads them. `evaluator`: one that has evaluated `root` already (the proof's), else a new one.
 * Returns the names and the first one's shape.
 */
function placePlainWeight(
  model: Model, root: string, name: string, computedBy: readonly NodeProto[], evaluator = new Evaluator(model.graph, model.opset()),
): { names: string[]; shape: number[] } {
  const graph = model.graph;
  const layout: NodeProto[] = [];
  const ends: string[] = [];
  const visit = (value: string) => {
    let read = graph.isGraphOutput(value);
    for (const c of graph.consumers(value)) {
      if (LAYOUT.has(c.op_type ?? '') && isDefaultDomain(c) && c.input?.[0] === value) {
        layout.push(c);
        visit(c.output![0]);
      } else {
        read = true;
      }
    }
    if (read && !ends.includes(value)) ends.push(value);
  };
  visit(root);
  // evaluated and unhooked first, so the removed nodes' names are free for the new weights
  const placed = ends.map((end) => {
    const readers = graph.consumers(end).filter((c) => !layout.includes(c)).flatMap((reader) =>
      (reader.input ?? []).flatMap((input, i) => (input === end ? [{ reader, i }] : [])));
    for (const { reader, i } of readers) graph.setNodeInput(reader, i, '');
    return { value: evaluator.value(end), readers };
  });
  graph.removeUnused([...computedBy, ...layout]);
  if (graph.initializer(root) && !graph.consumers(root).length && !graph.isGraphOutput(root)) {
    graph.removeInitializer(root);
    graph.removeGraphInputs(new Set([root]));
  }
  const names = placed.map(({ value, readers }) => {
    const tensor = floatTensor(graph.uniqueName(name), value.type, value.dims, value.data);
    model.addInitializers([tensor]);
    for (const { reader, i } of readers) graph.setNodeInput(reader, i, tensor.name!);
    return tensor.name!;
  });
  return { names, shape: placed[0]?.value.dims ?? [] };
}

/** Folds mean-only BN's running mean into the layer's bias (case 7). */
function foldMeanOnlyBn(model: Model, report: FoldReport): void {
  const graph = model.graph;
  for (const { spec, node, reader } of meanOnlyBatchNorms(graph)) {
    const [bias, runningMean] = [graph.initializer(spec.bias), graph.initializer(spec.runningMean)];
    if (!bias || !runningMean) {
      throw new WnError(`cannot fold the mean-only BN of layer "${spec.layer}": its bias and running mean must be initializers (are they fed as inputs?)`);
    }
    if (graph.consumers(spec.bias).length > 1 || graph.consumers(spec.runningMean).length > 1) {
      throw new WnError(`cannot fold the mean-only BN of layer "${spec.layer}": its bias or running mean is also read by another node`);
    }
    const [b, mean] = [readFloats(bias), readFloats(runningMean)];
    if (b.length !== mean.length) throw new WnError(`cannot fold the mean-only BN of layer "${spec.layer}": bias and running mean differ in size`);
    graph.setNodeInput(reader, reader.input!.indexOf(node.output![0]), spec.bias);
    graph.removeNodes([node]);
    graph.replaceInitializer(spec.bias, [withFloatValues(bias, b.map((x, i) => x - mean[i]))]);
    graph.removeInitializer(spec.runningMean);
    graph.removeGraphInputs(new Set([spec.runningMean]));
    report.meanOnlyBn.push({ layer: spec.layer, bias: spec.bias });
  }
}

/** Folds the weight norm exporters wrote (case 5). */
function foldForeign(model: Model, report: FoldReport): void {
  const graph = model.graph;
  const done = new Set<string>();
  for (const node of [...graph.nodes]) {
    if (!isDefaultDomain(node)) continue;
    for (const slot of weightSlots(node)) {
      const input = node.input?.[slot.input] ?? '';
      const traced = input ? traceWeight(graph, input) : undefined;
      if (traced?.kind !== 'computed' || done.has(traced.value)) continue;
      const foreign = foreignWeightNorm(model, traced, slot);
      if (!foreign) continue;
      if ('reason' in foreign) {
        report.skipped.push({ node: node.name ?? '', input, reason: foreign.reason });
        continue;
      }
      done.add(traced.value);
      // the proof's evaluator holds W already: the weights are not evaluated twice
      const { names, shape } = placePlainWeight(model, foreign.weight, plainWeightName(foreign.v), foreign.nodes, foreign.evaluator);
      for (const weight of names) report.folded.push({ weight, g: foreign.g, v: foreign.v, shape, form: foreign.form });
    }
  }
}

export function fold(model: Model): { model: Model; report: FoldReport } {
  const graph = model.graph;
  const report: FoldReport = { folded: [], meanOnlyBn: [], skipped: [] };
  foldMeanOnlyBn(model, report);
  for (const { spec, nodes } of weightNormGroups(graph.nodes).values()) {
    const v = parameter(model, spec, spec.v, spec.view);
    const g = parameter(model, spec, spec.g, gShape(spec.view, spec.keep));
    const output = graph.producer(spec.weight);
    const type = output?.op_type === 'Cast' ? intAttribute(output, 'to', 0) as DataType : computeType((v.data_type ?? 0) as DataType);
    const weight = foldedWeight(spec, g, v, type);
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
    const plain = spec.plain ? placePlainWeight(model, spec.weight, spec.plain, []) : { names: [spec.weight], shape: tensorDims(weight) };
    for (const name of plain.names) report.folded.push({ weight: name, g: spec.g, v: spec.v, shape: plain.shape, form: spec.form ?? 'wn-onnx' });
  }
  foldForeign(model, report);
  graph.pruneValueInfo();
  return { model, report };
}
