/** The Node-only part of the API: model files with external data, and onnxruntime-node. */
export * from './index';
export { loadModelFile, saveModelFile, type LoadedModel, type SaveOptions } from './node/model-file';
export { nodeRuntime } from './node/runtime';
