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
 *      constant, not floating point, already weight-normalized, conflicting axes.
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
import { DEFAULT_EPS, gShape, specDocString, type WeightNormSpec } from '../src/wn/spec';
import { option } from '../src/errors';

export interface ConvertOptions {
  /** Op types to convert (default: all of WEIGHT_NORM_OPS). */
  ops?: readonly string[];
  /** Convert only layers whose node name or weight name matches. */
  include?: RegExp;
  /** Leave layers whose node name or weight name matches. */
  exclude?: RegExp;
  /** Floor under ‖v‖ (default 1e-12). */
  eps?: number;
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
  for (const candidate of candidates.values()) {
    const { spec, inserted } = rewrite(model, opset, candidate, options.eps ?? DEFAULT_EPS, position);
    position += inserted;
    report.converted.push({ ...spec, layers: candidate.layers });
  }
  return { model, report };
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
  const computeType = type === DataType.FLOAT16 || type === DataType.BFLOAT16 ? DataType.FLOAT : type;
  const grouped = layout.view.length !== dims.length;
  const reduced = [...layout.view.keys()].filter((a) => !layout.keep.includes(a));

  let direction = spec.v;
  if (computeType !== type) direction = b.cast(direction, computeType, 'v_float');
  if (grouped) direction = b.reshape(direction, layout.view, 'v_grouped');
  const norm = b.atLeast(b.reduceL2(direction, reduced, 'norm'), eps, computeType, 'norm_floor');
  const gCompute = computeType !== type ? b.cast(spec.g, computeType, 'g_float') : spec.g;
  const scale = b.op('Div', [gCompute, norm], {}, 'scale');
  const last = grouped ? 'reshape' : computeType !== type ? 'cast' : 'mul';
  let w = b.op('Mul', [direction, scale], {}, 'weight', last === 'mul' ? weight : undefined);
  if (grouped) w = b.reshape(w, dims, 'weight_ungrouped', computeType === type ? weight : undefined);
  if (computeType !== type) b.cast(w, type, 'weight_cast', weight);

  graph.replaceInitializer(weight, [g, v]);
  graph.replaceGraphInput(weight, [g, v].map(initializerInfo));
  model.addInitializers(b.initializers);
  graph.insertNodes(b.nodes, position);
  return { spec, inserted: b.nodes.length };
}
