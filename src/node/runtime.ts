/** onnxruntime-node as this project's Runtime (Node only; loaded on first use). */
import type { Runtime } from '../runtime/session';

let loaded: Runtime | undefined;

export function nodeRuntime(): Runtime {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('onnxruntime-node') as Runtime;
  return loaded;
}
