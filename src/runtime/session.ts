/**
 * THE door to ONNX Runtime: every model that runs (verify, the value probe, init, the trainer,
 * tests, benchmarks) is serialized by `sessionModel` and run through a `Session`, which
 * `withSession` always releases. The onnxruntime package is a parameter (onnxruntime-node or
 * onnxruntime-web: both implement onnxruntime-common's API); nothing here edits a model.
 *
 * How a model reaches ONNX Runtime: initializer payloads of at least 64 KiB are handed over as
 * in-memory external data files (the session option `externalData`), each a view of the buffer
 * the payload already lives in (the model file's external data, or a tensor a pass computed);
 * everything else is inline in the ModelProto. Inlining the large payloads instead would build a
 * second copy of every weight in one buffer before ONNX Runtime makes its own, and cannot go past
 * protobuf's 2 GB limit; with the views, a model with external data runs without that copy and
 * at any size.
 */
import type * as ort from 'onnxruntime-common';
import type { TensorProto } from '../onnx/proto';
import { encodeModel } from '../onnx/codec';
import { externalForm, inlineAll } from '../onnx/external';
import type { Model } from '../ir/model';
import { option, WnError } from '../errors';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'webgpu', 'cuda'];

/** The part of an onnxruntime package this project uses. */
export interface Runtime {
  InferenceSession: typeof ort.InferenceSession;
  Tensor: typeof ort.Tensor;
}

/** What a session is created from. */
export interface SessionModel {
  /** The serialized ModelProto, large initializer payloads left out. */
  bytes: Uint8Array;
  /** Those payloads: in-memory files the ModelProto's external_data entries point into. */
  externalData: { path: string; data: Uint8Array }[];
}

/** Initializer payloads from this size on reach ONNX Runtime as external data views. */
const EXTERNAL_AT_LEAST = 1 << 16;

/** Serializes a model for a session (see the header: large payloads as views, the rest inline). */
export function sessionModel(model: Model): SessionModel {
  const byBuffer = new Map<ArrayBufferLike, TensorProto[]>();
  for (const t of model.graph.initializers) {
    const raw = t.raw_data;
    if (!raw || raw.length < EXTERNAL_AT_LEAST) continue;
    const list = byBuffer.get(raw.buffer);
    if (list) list.push(t);
    else byBuffer.set(raw.buffer, [t]);
  }
  const external = new Map<TensorProto, TensorProto>();
  const externalData: SessionModel['externalData'] = [];
  for (const [buffer, tensors] of byBuffer) {
    // one file per buffer, spanning just the bytes its tensors use
    const start = Math.min(...tensors.map((t) => t.raw_data!.byteOffset));
    const end = Math.max(...tensors.map((t) => t.raw_data!.byteOffset + t.raw_data!.length));
    const path = `wn-onnx-memory-${externalData.length}.bin`;
    externalData.push({ path, data: new Uint8Array(buffer, start, end - start) });
    for (const t of tensors) external.set(t, externalForm(t, path, t.raw_data!.byteOffset - start, t.raw_data!.length));
  }
  const bytes = encodeModel(model.proto, (t) => external.get(t) ?? inlineAll(t));
  return { bytes, externalData };
}

export interface SessionSettings {
  ep?: ExecutionProvider;
  /** ONNX Runtime session options (threads, optimization level, profiling …); providers come from `ep`. */
  options?: ort.InferenceSession.SessionOptions;
}

const HOW_TO_GET: Record<ExecutionProvider, string> = {
  cpu: '',
  cuda: 'the CUDA execution provider is not installed or no CUDA 12 GPU is usable: install onnxruntime-node\'s CUDA libraries on a machine with an NVIDIA GPU: `node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12`',
  webgpu: 'no WebGPU adapter is available: on a machine without a GPU install Debian\'s chromium and libvulkan1 and set VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json',
};

function firstLine(e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  return message.split('\n')[0].replace(/^.*?(Failed|Load model|Exception)/, '$1').trim();
}

/** An ONNX Runtime session over a model; failures become one-line errors. */
export class Session {
  private constructor(private readonly session: ort.InferenceSession, readonly ep: ExecutionProvider) {}

  static async open(runtime: Runtime, model: Model, { ep = 'cpu', options = {} }: SessionSettings = {}): Promise<Session> {
    const { bytes, externalData } = sessionModel(model);
    try {
      const session = await runtime.InferenceSession.create(bytes, { ...options, externalData, executionProviders: [ep] });
      return new Session(session, ep);
    } catch (e) {
      const message = firstLine(e);
      if (ep !== 'cpu' && /shared library|adapter|WebGPU|CUDA|not (?:supported|available)|backend/i.test(message)) {
        throw new WnError(`${option('ep')} ${ep}: ${HOW_TO_GET[ep]} (${message})`);
      }
      throw new WnError(`ONNX Runtime cannot load the model: ${message}`);
    }
  }

  get inputNames(): readonly string[] { return this.session.inputNames; }
  get outputNames(): readonly string[] { return this.session.outputNames; }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    try {
      return await this.session.run(feeds);
    } catch (e) {
      throw new WnError(`ONNX Runtime failed to run the model: ${firstLine(e)}`);
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Opens a session on the model, hands it to `use`, and releases it whatever happens. */
export async function withSession<T>(runtime: Runtime, model: Model, settings: SessionSettings, use: (session: Session) => Promise<T>): Promise<T> {
  const session = await Session.open(runtime, model, settings);
  try {
    return await use(session);
  } finally {
    await session.release();
  }
}

/** One run of a model on `feeds`. */
export function runModel(runtime: Runtime, model: Model, feeds: Record<string, ort.Tensor>, settings: SessionSettings = {}): Promise<Record<string, ort.Tensor>> {
  return withSession(runtime, model, settings, (session) => session.run(feeds));
}
