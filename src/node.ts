/** The Node-only part of the API: model files with external data, and onnxruntime-node. */
export * from './index';
export { loadModelFile, saveModelFile, type LoadedModel, type SaveOptions } from './node/model-file';
export { nodeRuntime } from './node/runtime';

import type * as ort from 'onnxruntime-common';
import type { Model } from './ir/model';
import { dataDependentInit as initWith, type DataInitOptions } from './train/data-init';
import { nodeRuntime } from './node/runtime';

/** Data-dependent init with onnxruntime-node unless another runtime is given. */
export function dataDependentInit(model: Model, batch: Record<string, ort.Tensor>, options: Partial<DataInitOptions> = {}) {
  return initWith(model, batch, { runtime: nodeRuntime(), ...options });
}
