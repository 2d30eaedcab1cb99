/**
 * convert: rewrites layer weights W into weight-normalized parameters g and v, with plain ONNX
 * nodes computing W = g · v / max(‖v‖, eps) under W's own name, so every consumer is untouched.
 * Right after convert v = W and g = ‖W‖ per output feature: the model computes what it did.
 *
 * Cases handled (layouts per op: src/wn/layers.ts):
 *   1. the weight is an initializer, or reaches the layer through Identity, Cast and Transpose
 *      nodes (the norm axes are mapped back through the Transposes);
 *   2. one initializer feeding several layers is rewritten once, if they agree on its axes;
 *   3. an initializer that is also a graph input (required below IR 4) is replaced there by g, v;
 *   4. float16/bfloat16 weights: g, v stay in that type, the norm runs in float32;
 *   5. skipped, with the reason in the report: op not selected, excluded by name, weight not a
 *      constant, not floating point, already weight-normalized, conflicting axes;
 *   6. weight norm another tool wrote (src/wn/foreign.ts), proved numerically, is adopted: its
 *      chain becomes wn-onnx's marked form over the exporter's own g and v initializers (names,
 *      values and axes kept), so inspect, init, train and fold treat it as their own.
 */
import { DataType, dataTypeName, FLOAT_TYPES } from '../src/onnx/enums';
import type { NodeProto, TensorProto } from '../src/onnx/proto';
import { withoutFields } from '../src/onnx/codec';
import { isDefaultDomain } from '../src/ir/graph';
import { initializerInfo, type Model } from '../src/ir/model';
import { Builder } from '../src/ir/builder';
import { featureNorms } from '../src/tensor/norms';
import { floatStorage, floatTensor, tensorDims } from '../src/tensor/values';
import { sourceLayout, traceWeight, WEIGHT_NORM_OPS, weightSlots, type WeightLayout } from '../src/wn/layers';
import { computeType, DEFAULT_EPS, gShape, specDocString, type WeightNormSpec } from '../src/wn/spec';
import { foreignWeightNorm, plainWeightName, type VerifiedWeightNorm } from '../src/wn/foreign';
import { option } from '../src/errors';
import { addMeanOnlyBatchNorm, type MeanOnlyBnReport } from './mean-only-bn';

export interface ConvertOptions {
  /** Op types to convert (default: all of WEIGHT_NORM_OPS). */
  ops?: readonly string[];
  /** Convert only layers whose node name or weight name matches. */
  include?: RegExp;
  /** Leave layers whose node name or weight name matches. */
  exclude?: RegExp;
  /** Floor under ‖v‖ (default 1e-12). */
  eps?: number;
  /** Mean-only batch normalization after every converted feed-forward layer (transforms/mean-only-bn.ts). */
  meanOnlyBn?: boolean;
}

export interface ConvertedWeight extends WeightNormSpec {
  /** Nodes that read the weight. */
  layers: { node: string; op: string }[];
}

export interface SkippedLayer {
  node: string;
  op: string;
  input: string;
  reason: string;
}

export interface ConvertReport {
  converted: ConvertedWeight[];
  skipped: SkippedLayer[];
  meanOnlyBn?: MeanOnlyBnReport;
}

interface Candidate {
  source: TensorProto;
  layout: WeightLayout;
  layers: { node: string; op: string }[];
}

function selected(options: ConvertOptions, node: NodeProto, weight: string): string | undefined {
  const names = [node.name ?? '', weight];
  if (options.include && !names.some((n) => options.include!.test(n))) return `not matched by ${option('include')} ${options.include.source}`;
  if (options.exclude && names.some((n) => options.exclude!.test(n))) return `excluded by ${option('exclude')} ${options.exclude.source}`;
  return undefined;
}

function sameLayout(a: WeightLayout, b: WeightLayout): boolean {
  return a.view.join() === b.view.join() && a.keep.join() === b.keep.join();
}

export function convert(model: Model, options: ConvertOptions = {}): { model: Model; report: ConvertReport } {
  const opset = model.defaultOpset();
  const graph = model.graph;
  const ops = new Set(options.ops ?? WEIGHT_NORM_OPS);
  const report: ConvertReport = { converted: [], skipped: [] };
  const candidates = new Map<string, Candidate>();
  const adopted = new Map<string, { foreign: VerifiedWeightNorm; layers: { node: string; op: string }[] }>();

  for (const node of graph.nodes) {
    const op = node.op_type ?? '';
    const slots = isDefaultDomain(node) ? weightSlots(node) : [];
    for (const slot of slots) {
      const input = node.input?.[slot.input] ?? '';
      const skip = (reason: string) => report.skipped.push({ node: node.name ?? '', op, input, reason });
      if (!input) continue;
      if (!ops.has(op)) { skip('op type not selected'); continue; }
      const traced = traceWeight(graph, input);
      if (traced.kind === 'weight-norm') { skip('already weight-normalized'); continue; }
      if (traced.kind === 'dynamic') { skip(traced.reason); continue; }
      if (traced.kind === 'computed') {
        const known = adopted.get(traced.value);
        if (known) { known.layers.push({ node: node.name ?? '', op }); continue; }
        const foreign = foreignWeightNorm(model, traced, slot);
        if (!foreign) { skip(traced.reason); continue; }
        if ('reason' in foreign) { skip(`${traced.reason}; it looks like weight norm, but ${foreign.reason}`); continue; }
        const unselected = selected(options, node, foreign.v);
        if (unselected) { skip(unselected); continue; }
        if (!graph.initializer(foreign.g) || !graph.initializer(foreign.v)) { skip('its weight norm reads g or v from Constant nodes; adopting needs initializers'); continue; }
        adopted.set(traced.value, { foreign, layers: [{ node: node.name ?? '', op }] });
        continue;
      }
      const sourceName = traced.source.name ?? '';
      const type = (traced.source.data_type ?? 0) as DataType;
      if (!FLOAT_TYPES.has(type)) { skip(`weight "${sourceName}" is ${dataTypeName(type)}, not floating point`); continue; }
      const unselected = selected(options, node, sourceName);
      if (unselected) { skip(unselected); continue; }
      const layout = sourceLayout(traced, slot);
      if (typeof layout === 'string') { skip(layout); continue; }
      if (layout.keep.length === layout.view.length) { skip('the weight has no axis to normalize over'); continue; }
      const known = candidates.get(sourceName);
      if (known && !sameLayout(known.layout, layout)) {
        skip(`weight "${sourceName}" is shared with node "${known.layers[0].node}", which normalizes it along other axes`);
        continue;
      }
      if (known) known.layers.push({ node: node.name ?? '', op });
      else candidates.set(sourceName, { source: traced.source, layout, layers: [{ node: node.name ?? '', op }] });
    }
  }

  // groups go to the front of the graph (they read only initializers), in layer order
  let position = 0;
  for (const { foreign, layers } of adopted.values()) {
    const { spec, inserted } = adopt(model, opset, foreign, position);
    position += inserted;
    report.converted.push({ ...spec, layers });
  }
  for (const candidate of candidates.values()) {
    const { spec, inserted } = rewrite(model, opset, candidate, options.eps ?? DEFAULT_EPS, position);
    position += inserted;
    report.converted.push({ ...spec, layers: candidate.layers });
  }
  if (options.meanOnlyBn) report.meanOnlyBn = addMeanOnlyBatchNorm(model).report;
  return { model, report };
}

/** The element types the norm arithmetic involves: of v, of g, and of W as its readers take it. */
interface WeightNormTypes { v: DataType; g: DataType; w: DataType }

/**
 * The nodes that compute W = g · v / max(‖v‖, eps) under `spec.weight`: in float32 for half
 * precision v, else in v's type, with Casts where g or W have another type. W has `dims`; g of
 * `gDims` is reshaped to the norm's shape where it differs from it.
 */
function emitWeightNorm(b: Builder, spec: WeightNormSpec, types: WeightNormTypes, dims: number[], gDims: number[]): void {
  const { weight, view, keep, eps } = spec;
  const compute = computeType(types.v);
  const grouped = view.length !== dims.length;
  const reduced = [...view.keys()].filter((a) => !keep.includes(a));

  let direction = spec.v;
  if (compute !== types.v) direction = b.cast(direction, compute, 'v_float');
  if (grouped) direction = b.reshape(direction, view, 'v_grouped');
  const norm = b.atLeast(b.reduceL2(direction, reduced, 'norm'), eps, compute, 'norm_floor');
  const normShape = gShape(view, keep);
  const gain = gDims.join() === normShape.join() ? spec.g : b.reshape(spec.g, normShape, 'g_shaped');
  const gCompute = compute !== types.g ? b.cast(gain, compute, 'g_float') : gain;
  const scale = b.op('Div', [gCompute, norm], {}, 'scale');
  const last = grouped ? 'reshape' : compute !== types.w ? 'cast' : 'mul';
  let w = b.op('Mul', [direction, scale], {}, 'weight', last === 'mul' ? weight : undefined);
  if (grouped) w = b.reshape(w, dims, 'weight_ungrouped', compute === types.w ? weight : undefined);
  if (compute !== types.w) b.cast(w, types.w, 'weight_cast', weight);
}

/** Rewrites an exporter's weight norm into the marked form over its own g and v (kept as they are). */
function adopt(model: Model, opset: number, foreign: VerifiedWeightNorm, position: number): { spec: WeightNormSpec; inserted: number } {
  const graph = model.graph;
  const [g, v] = [graph.initializer(foreign.g)!, graph.initializer(foreign.v)!];
  const spec: WeightNormSpec = {
    weight: foreign.weight, g: foreign.g, v: foreign.v, view: foreign.dims, keep: foreign.keep, eps: foreign.eps,
    form: foreign.form, plain: plainWeightName(foreign.v),
  };
  // the marked nodes take over W's name first, so the exporter's chain is read by nobody after
  graph.removeNodes([graph.producer(foreign.weight)!], [foreign.weight]);
  const b = new Builder(graph, opset, `${spec.plain}/wn`, specDocString(spec));
  const types = { v: (v.data_type ?? 0) as DataType, g: (g.data_type ?? 0) as DataType, w: foreign.values.type };
  emitWeightNorm(b, spec, types, foreign.dims, tensorDims(g));
  model.addInitializers(b.initializers);
  graph.insertNodes(b.nodes, position);
  // (the exporter's nodes all stand after the marked ones at the front: `position` holds)
  graph.removeUnused(foreign.nodes);
  return { spec, inserted: b.nodes.length };
}

/** Replaces one initializer W by g and v, and inserts the nodes that compute W from them. */
function rewrite(model: Model, opset: number, { source, layout }: Candidate, eps: number, position: number): { spec: WeightNormSpec; inserted: number } {
  const graph = model.graph;
  const weight = source.name ?? '';
  const type = (source.data_type ?? 0) as DataType;
  const dims = tensorDims(source);
  const spec: WeightNormSpec = {
    weight,
    g: graph.uniqueName(`${weight}_g`),
    v: graph.uniqueName(`${weight}_v`),
    view: layout.view,
    keep: layout.keep,
    eps,
  };

  const g = floatTensor(spec.g, type, gShape(layout.view, layout.keep), featureNorms(floatStorage(source), layout.view, layout.keep));
  const v = withoutFields(source, ['name']);
  v.name = spec.v;

  const b = new Builder(graph, opset, `${weight}/wn`, specDocString(spec));
  emitWeightNorm(b, spec, { v: type, g: type, w: type }, dims, tensorDims(g));

  graph.replaceInitializer(weight, [g, v]);
  graph.replaceGraphInput(weight, [g, v].map(initializerInfo));
  model.addInitializers(b.initializers);
  graph.insertNodes(b.nodes, position);
  return { spec, inserted: b.nodes.length };
}
