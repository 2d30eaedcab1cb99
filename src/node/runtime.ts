/** onnxruntime-node as this project's Runtime (Node only; loaded on first use). */
import type { Runtime } from '../runtime/ort';

let loaded: Runtime | undefined;

export function nodeRuntime(): Runtime {
  if (!loaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as Runtime & { env: { logLevel?: string } };
    // failures reach the user as one WnError line; ONNX Runtime's own log only with WN_ONNX_DEBUG
    ort.env.logLevel = process.env.WN_ONNX_DEBUG ? 'warning' : 'fatal';
    loaded = ort;
  }
  return loaded;
}
