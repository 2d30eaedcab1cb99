/**
 * Running models through ONNX Runtime: one wrapper over onnxruntime-node and onnxruntime-web
 * (both implement onnxruntime-common's API; the caller passes the package in). Sessions live
 * apart from the IR: they take serialized bytes or a path.
 */
import type * as ort from 'onnxruntime-common';
import { WnError } from '../errors';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda'];

/** The part of an onnxruntime package this project uses. */
export interface Runtime {
  InferenceSession: typeof ort.InferenceSession;
  Tensor: typeof ort.Tensor;
}

const HOW_TO_GET: Record<ExecutionProvider, string> = {
  cpu: '',
  cuda: 'the CUDA execution provider is not installed or no CUDA 12 GPU is usable: on a machine with an NVIDIA GPU run `npm install --onnxruntime-node-install=cuda12`',
  webgpu: 'no WebGPU adapter is available: on a machine without a GPU install Debian\'s chromium and libvulkan1 and set VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json',
};

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/^.*?(Failed|Load model|Exception)/, '$1').trim();
}

export async function createSession(
  runtime: Runtime, model: Uint8Array | string, ep: ExecutionProvider = 'cpu', options: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession> {
  try {
    return await runtime.InferenceSession.create(model as never, { ...options, executionProviders: [ep] });
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (ep !== 'cpu' && /shared library|adapter|WebGPU|CUDA|not (?:supported|available)|backend/i.test(message)) {
      throw new WnError(`--ep ${ep}: ${HOW_TO_GET[ep]} (${firstLine(message)})`);
    }
    throw new WnError(`ONNX Runtime cannot load the model: ${firstLine(message)}`);
  }
}

export async function runSession(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  try {
    return await session.run(feeds);
  } catch (e) {
    throw new WnError(`ONNX Runtime failed to run the model: ${firstLine((e as Error).message ?? String(e))}`);
  }
}
