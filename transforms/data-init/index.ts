/**
 * dataDependentInit: the paper's data-dependent init (section 3) as one pass. Every
 * weight-normalized layer's pre-activation gets mean 0 and standard deviation s on one batch,
 * layer after layer.
 *
 * The pass never touches ONNX Runtime: it is given `run`, which runs a graph on the init batch
 * and returns its outputs (src/train/data-init.ts binds it to a runtime). Steps:
 *   1. `resample`: every direction v is drawn afresh from N(0, std²) (resample-v.ts);
 *   2. every layer gets a bias of its own where it lacks one (src/wn/layer-bias.ts);
 *   3. one pass (default): the init graph (init-graph.ts) runs the batch ONCE, normalizing each
 *      layer with its own batch statistics on the way; g and b are set from the statistics it
 *      outputs (init-parameters.ts);
 *      per layer: the procedure taken literally, one run per layer, each with the layers before
 *      it already initialized; the same result, L times the work (for checks and benchmarks);
 *   4. recurrent layers keep W = v (g = ‖v‖): the paper applies this init only where batch norm
 *      would apply.
 */
import type { Model } from '../../src/ir/model';
import type { FloatArray } from '../../src/tensor/values';
import { option, WnError } from '../../src/errors';
import { weightName } from '../../src/wn/spec';
import { addLayerBiases, type BiasedLayer, type LayerBiasReport } from '../../src/wn/layer-bias';
import { compileInitGraph } from './init-graph';
import { keepDirectionNorms, setInitParameters, type LayerInit } from './init-parameters';
import { resampleDirections, type ResampleOptions } from './resample-v';

/** Runs a graph on the init batch; returns its outputs by name. */
export type RunOnBatch = (graph: Model) => Promise<Record<string, FloatArray>>;

export interface DataInitPassOptions {
  run: RunOnBatch;
  /** Target standard deviation s of every pre-activation (default 1). */
  scale?: number;
  /** Draw v from N(0, std²) first (training from scratch). */
  resample?: ResampleOptions;
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

async function initialize(model: Model, layers: readonly BiasedLayer[], run: RunOnBatch, scale: number): Promise<LayerInit[]> {
  const init = compileInitGraph(model, layers, { scale });
  const outputs = await run(init.model);
  return setInitParameters(model, init.statistics.map((s) => ({ ...s, meanValues: outputs[s.mean], stdValues: outputs[s.std] })), scale);
}

export async function dataDependentInit(model: Model, options: DataInitPassOptions): Promise<{ model: Model; report: DataInitReport }> {
  const { run, scale = 1, strategy = 'one-pass' } = options;
  const progress = options.onProgress ?? (() => {});
  if (!(scale > 0) || !Number.isFinite(scale)) throw new WnError(`${option('scale')} (the init scale) must be a positive number, got ${scale}`);
  const resampled = options.resample ? resampleDirections(model, options.resample) : [];
  const { layers, recurrent, report: biases } = addLayerBiases(model);
  if (!layers.length && !recurrent.length) {
    throw new WnError('the model has no weight-normalized layers: convert it first');
  }
  // recurrent layers keep W = v: after convert g = ‖v‖ already; a resampled v needs it again
  if (resampled.length) keepDirectionNorms(model, recurrent);

  const initialized: LayerInit[] = [];
  let runs = 0;
  if (layers.length && strategy === 'one-pass') {
    progress(`${layers.length} layers, one pass`);
    initialized.push(...await initialize(model, layers, run, scale));
    runs = 1;
  } else {
    for (const [i, layer] of layers.entries()) {
      progress(`layer ${i + 1}/${layers.length}: ${layer.node.name || weightName(layer.spec)}`);
      initialized.push(...await initialize(model, [layer], run, scale));
      runs++;
    }
  }
  const report: DataInitReport = {
    layers: initialized,
    recurrent: recurrent.map((l) => ({ node: l.node.name ?? '', op: l.node.op_type ?? '', weight: weightName(l.spec) })),
    biases,
    resampled,
    runs,
    scale,
  };
  return { model, report };
}
