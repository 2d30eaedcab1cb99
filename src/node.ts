/** The Node-only part of the API: model files with external data, onnxruntime-node and onnxruntime-web's Node build. */
export * from './index';
export { loadModelFile, saveModelFile, type LoadedModel, type SaveOptions } from './node/model-file';
export { nodeRuntime, webRuntime } from './node/runtime';

import type * as ort from 'onnxruntime-common';
import type { Model } from './ir/model';
import { dataDependentInit as initWith, type DataInitOptions } from './train/data-init';
import { runtimeFor } from './node/runtime';

/** Data-dependent init with the package that has `ep` (onnxruntime-web for 'wasm', else onnxruntime-node) unless a runtime is given. */
export function dataDependentInit(model: Model, batch: Record<string, ort.Tensor>, options: Partial<DataInitOptions> = {}) {
  return initWith(model, batch, { runtime: runtimeFor(options.ep ?? 'cpu'), ...options });
}
