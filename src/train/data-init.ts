/**
 * Data-dependent init on a batch of ONNX Runtime tensors: the init pass
 * (transforms/data-init) run through the door, its graphs fed `batch`. The pass changes the
 * model (g, b, and v when resampling) and never sees the runtime.
 */
import type * as ort from 'onnxruntime-common';
import type { Model } from '../ir/model';
import { WnError } from '../errors';
import { runModel } from '../runtime/session';
import type { ExecutionProvider, Runtime } from '../runtime/ort';
import { dataDependentInit as initPass, type DataInitPassOptions, type DataInitReport } from '../../transforms/data-init';

export interface DataInitOptions extends Omit<DataInitPassOptions, 'run'> {
  /** The onnxruntime package to run with (onnxruntime-node or onnxruntime-web). */
  runtime: Runtime;
  ep?: ExecutionProvider;
}

export async function dataDependentInit(
  model: Model, batch: Record<string, ort.Tensor>, options: DataInitOptions,
): Promise<{ model: Model; report: DataInitReport }> {
  const { runtime, ep = 'cpu', onProgress } = options;
  for (const [name, tensor] of Object.entries(batch)) {
    if ((tensor.dims[0] ?? 0) < 2) throw new WnError(`input "${name}": data-dependent init needs a batch of at least 2 samples, got ${tensor.dims[0] ?? 0}`);
    if ((tensor.type === 'float32' || tensor.type === 'float64') && !(tensor.data as Float32Array).every(Number.isFinite)) {
      throw new WnError(`input "${name}": the init batch holds NaN or Inf values; clean the data first`);
    }
  }
  const rows = Object.values(batch)[0]?.dims[0];
  return initPass(model, {
    ...options,
    run: async (graph) => {
      const outputs = await runModel(runtime, graph, batch, { ep });
      return Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, t.data as Float32Array | Float64Array]));
    },
    onProgress: onProgress && ((line) => onProgress(`batch of ${rows} rows, ${line}`)),
  });
}
