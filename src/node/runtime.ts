/** onnxruntime-node and onnxruntime-web as this project's Runtime (Node only; each loaded on first use). */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocTuned } from './malloc';
import type { ExecutionProvider, Runtime } from '../runtime/ort';

type LoadedRuntime = Runtime & { env: { logLevel?: string; wasm?: { numThreads?: number } } };

let native: Runtime | undefined;
let web: Runtime | undefined;

/** Failures reach the user as one WnError line; ONNX Runtime's own log only with WN_ONNX_DEBUG. */
function quiet(ort: LoadedRuntime): LoadedRuntime {
  ort.env.logLevel = process.env.WN_ONNX_DEBUG ? 'warning' : 'fatal';
  return ort;
}

export function nodeRuntime(): Runtime {
  if (!native) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = quiet(require('onnxruntime-node') as LoadedRuntime);
    const InferenceSession = mallocTuned() ? withoutCpuArena(ort.InferenceSession) : ort.InferenceSession;
    native = { ...ort, InferenceSession, collectGarbage: garbageCollector() };
  }
  return native;
}

/**
 * Sessions without ONNX Runtime's CPU arena (unless asked for): under the tuned malloc
 * (src/node/malloc.ts) the arena only adds memory. The options are create's last argument.
 */
function withoutCpuArena(sessions: Runtime['InferenceSession']): Runtime['InferenceSession'] {
  const create = (...args: unknown[]) => {
    const last = args.at(-1);
    const hasOptions = args.length > 1 && typeof last === 'object' && last !== null && !ArrayBuffer.isView(last) && !(last instanceof ArrayBuffer);
    const options = { enableCpuMemArena: false, ...(hasOptions ? last : {}) };
    return (sessions.create as (...a: unknown[]) => ReturnType<typeof sessions.create>)(...(hasOptions ? args.slice(0, -1) : args), options);
  };
  return { create } as unknown as Runtime['InferenceSession'];
}

/** V8's full collection (what --expose-gc exposes as gc()), fetched once: a new context made with the flag on holds it. */
function garbageCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * onnxruntime-web on its WebAssembly provider ('wasm'), for a Node without onnxruntime-node's native binaries. In Node the
 * package resolves to its Node build, which runs threads as worker threads: every core by default, like onnxruntime-node's
 * CPU provider (onnxruntime-web's own default takes half, for a browser page that shares the machine with its UI).
 */
export function webRuntime(): Runtime {
  if (!web) {
    // Both packages register their backends in one onnxruntime-common registry, and the first loaded keeps the name
    // 'cpu': onnxruntime-node goes first where it is installed, so its 'cpu' sessions stay native ('wasm' names ours).
    try { nodeRuntime(); } catch { /* no native binaries: onnxruntime-web alone */ }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = quiet(require('onnxruntime-web') as LoadedRuntime);
    ort.env.wasm!.numThreads ??= availableParallelism();
    web = { ...ort, collectGarbage: garbageCollector() };
  }
  return web;
}

/** The package that has `ep`: onnxruntime-web for 'wasm', onnxruntime-node for the others. */
export function runtimeFor(ep: ExecutionProvider): Runtime {
  return ep === 'wasm' ? webRuntime() : nodeRuntime();
}
