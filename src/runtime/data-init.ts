/**
 * Data-dependent init (paper section 3) through ONNX Runtime: every weight-normalized layer's
 * pre-activation gets mean 0 and standard deviation s on one batch, layer after layer.
 *
 * One pass (default): biases are added where missing (transforms/layer-bias.ts), the init graph
 * (transforms/init-graph.ts) runs the batch ONCE, normalizing each layer with its own batch
 * statistics on the way, and g, b are set from the statistics it outputs.
 * Per layer: the paper's procedure taken literally, one run per layer, each with the layers
 * before it already initialized; the same result, L times the work (for checks and benchmarks).
 */
import type * as ort from 'onnxruntime-common';
import { encodeModel } from '../onnx/codec';
import type { Model } from '../ir/model';
import { WnError } from '../errors';
import { addLayerBiases, type BiasedLayer, type LayerBiasReport } from '../../transforms/layer-bias';
import { compileInitGraph, type LayerStatistics } from '../../transforms/init-graph';
import { keepDirectionNorms, setInitParameters, type LayerInit, type MeasuredStatistics } from '../../transforms/init-parameters';
import { resampleDirections } from '../../transforms/resample-v';
import { createSession, runSession, type ExecutionProvider, type Runtime } from './session';

export interface DataInitOptions {
  /** The onnxruntime package to run with (onnxruntime-node or onnxruntime-web). */
  runtime: Runtime;
  /** Target standard deviation s of every pre-activation (default 1). */
  scale?: number;
  /** Draw v from N(0, std²) first (training from scratch). */
  resample?: { std?: number; seed?: number };
  ep?: ExecutionProvider;
  strategy?: 'one-pass' | 'per-layer';
  /** Called with a short line at each stage. */
  onProgress?: (message: string) => void;
}

export interface DataInitReport {
  layers: LayerInit[];
  /** Recurrent layers, left at g = ‖v‖. */
  recurrent: { node: string; op: string; weight: string }[];
  biases: LayerBiasReport;
  resampled: string[];
  /** ONNX Runtime runs made (1 for one pass). */
  runs: number;
  scale: number;
}

async function measure(runtime: Runtime, model: Model, layers: readonly BiasedLayer[], batch: Record<string, ort.Tensor>, scale: number, ep: ExecutionProvider): Promise<MeasuredStatistics[]> {
  const init = compileInitGraph(model, layers, { scale });
  const session = await createSession(runtime, encodeModel(init.model.proto), ep);
  try {
    const outputs = await runSession(session, batch);
    return init.statistics.map((s: LayerStatistics) => ({ ...s, meanValues: numbers(outputs[s.mean]), stdValues: numbers(outputs[s.std]) }));
  } finally {
    await session.release();
  }
}

function numbers(t: ort.Tensor): ArrayLike<number> {
  return t.data as Float32Array | Float64Array;
}

export async function dataDependentInit(
  model: Model, batch: Record<string, ort.Tensor>, options: DataInitOptions,
): Promise<{ model: Model; report: DataInitReport }> {
  const { runtime, scale = 1, ep = 'cpu', strategy = 'one-pass' } = options;
  const progress = options.onProgress ?? (() => {});
  if (!(scale > 0) || !Number.isFinite(scale)) throw new WnError(`the init scale must be a positive number, got ${scale}`);
  for (const [name, tensor] of Object.entries(batch)) {
    if ((tensor.dims[0] ?? 0) < 2) throw new WnError(`input "${name}": data-dependent init needs a batch of at least 2 samples, got ${tensor.dims[0] ?? 0}`);
    if ((tensor.type === 'float32' || tensor.type === 'float64') && !(tensor.data as Float32Array).every(Number.isFinite)) {
      throw new WnError(`input "${name}": the init batch holds NaN or Inf values; clean the data first`);
    }
  }
  const resampled = options.resample ? resampleDirections(model, options.resample) : [];
  const { layers, recurrent, report: biases } = addLayerBiases(model);
  if (!layers.length && !recurrent.length) {
    throw new WnError('the model has no weight-normalized layers: convert it first (`wn-onnx convert IN --init DATA -o OUT` converts and initializes in one go)');
  }
  // recurrent layers keep W = v: after convert g = ‖v‖ already; a resampled v needs it again
  if (resampled.length) keepDirectionNorms(model, recurrent);

  const initialized: LayerInit[] = [];
  let runs = 0;
  const rows = Object.values(batch)[0]?.dims[0];
  if (layers.length && strategy === 'one-pass') {
    progress(`batch of ${rows} rows, ${layers.length} layers, one pass`);
    initialized.push(...setInitParameters(model, await measure(runtime, model, layers, batch, scale, ep), scale));
    runs = 1;
  } else {
    for (const [i, layer] of layers.entries()) {
      progress(`batch of ${rows} rows, layer ${i + 1}/${layers.length}: ${layer.node.name || layer.spec.weight}`);
      initialized.push(...setInitParameters(model, await measure(runtime, model, [layer], batch, scale, ep), scale));
      runs++;
    }
  }
  const report: DataInitReport = {
    layers: initialized,
    recurrent: recurrent.map((l) => ({ node: l.node.name ?? '', op: l.node.op_type ?? '', weight: l.spec.weight })),
    biases,
    resampled,
    runs,
    scale,
  };
  return { model, report };
}
