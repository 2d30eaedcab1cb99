/** What `inspect` shows: every layer weight, whether it is weight-normalized, and its g / ‖v‖ statistics. */
import type { Model } from '../ir/model';
import { isDefaultDomain } from '../ir/graph';
import { dataTypeName, FLOAT_TYPES } from '../onnx/enums';
import { featureNorms } from '../tensor/norms';
import { floatStorage, readFloats, tensorDims, type FloatArray } from '../tensor/values';
import { stats, type Stats } from '../tensor/stats';
import { sourceLayout, traceWeight, weightSlots } from './layers';
import { foreignWeightNorm } from './foreign';
import { weightName, type ForeignForm } from './spec';
import { meanOnlyBatchNorms } from './mean-only-bn';

export interface LayerInfo {
  node: string;
  op: string;
  /** The weight as the layer reads it. */
  input: string;
  /** foreign-weight-norm: weight norm another tool wrote, which convert adopts and fold folds. */
  form: 'weight-norm' | 'foreign-weight-norm' | 'plain' | 'dynamic';
  /** Who wrote the weight norm: wn-onnx, or an exporter (its form, also once convert adopted it). */
  source?: 'wn-onnx' | ForeignForm;
  shape?: number[];
  /** Output features (one weight vector each). */
  features?: number;
  /** weight-norm: the gains g and the direction norms ‖v‖; plain: the weight-vector norms ‖W‖. */
  g?: Stats;
  vNorm?: Stats;
  wNorm?: Stats;
  /** Mean-only BN after the layer (convert --mean-only-bn): its bias, running mean and the running mean's values. */
  meanOnlyBn?: { bias: string; runningMean: string; values?: Stats };
  note?: string;
}

export function inspectModel(model: Model): LayerInfo[] {
  const graph = model.graph;
  const layers: LayerInfo[] = [];
  const meanOnly = new Map(meanOnlyBatchNorms(graph).map(({ spec }) => {
    const running = graph.initializer(spec.runningMean);
    return [spec.layer, { bias: spec.bias, runningMean: spec.runningMean, values: running ? stats(readFloats(running)) : undefined }];
  }));
  for (const node of graph.nodes) {
    if (!isDefaultDomain(node)) continue;
    for (const slot of weightSlots(node)) {
      const input = node.input?.[slot.input];
      if (!input) continue;
      const base = { node: node.name ?? '', op: node.op_type ?? '', input };
      const traced = traceWeight(graph, input);
      if (traced.kind === 'dynamic') {
        layers.push({ ...base, form: 'dynamic', note: traced.reason });
      } else if (traced.kind === 'computed') {
        const foreign = foreignWeightNorm(model, traced, slot);
        if (!foreign || 'reason' in foreign) {
          layers.push({ ...base, form: 'dynamic', note: foreign ? `${traced.reason}; it looks like weight norm, but ${foreign.reason}` : traced.reason });
          continue;
        }
        layers.push({
          ...base, form: 'foreign-weight-norm', source: foreign.form, shape: foreign.dims, features: foreign.gains.length,
          g: stats(foreign.gains), vNorm: stats(foreign.norms), note: `g ${foreign.g}, v ${foreign.v}`,
        });
      } else if (traced.kind === 'weight-norm') {
        const { spec } = traced;
        const g = graph.initializer(spec.g);
        const v = graph.initializer(spec.v);
        const info: LayerInfo = {
          ...base, form: 'weight-norm', source: spec.form ?? 'wn-onnx', shape: v ? tensorDims(v) : undefined,
          // mean-only BN names its layer as convert does: the node's name, else the weight's
          meanOnlyBn: meanOnly.get(node.name || weightName(spec)),
        };
        if (g && v) {
          const gValues: FloatArray = readFloats(g);
          info.features = gValues.length;
          info.g = stats(gValues);
          info.vNorm = stats(featureNorms(floatStorage(v), spec.view, spec.keep));
        } else {
          info.note = 'g or v is not an initializer (fed at run time)';
        }
        layers.push(info);
      } else {
        const layout = sourceLayout(traced, slot);
        const info: LayerInfo = { ...base, form: 'plain', shape: tensorDims(traced.source) };
        if (!FLOAT_TYPES.has(traced.source.data_type ?? 0)) {
          info.note = `weight is ${dataTypeName(traced.source.data_type ?? 0)}, not floating point`;
        } else if (typeof layout !== 'string') {
          const norms = featureNorms(floatStorage(traced.source), layout.view, layout.keep);
          info.features = norms.length;
          info.wNorm = stats(norms);
        }
        layers.push(info);
      }
    }
  }
  return layers;
}
