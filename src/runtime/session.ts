/**
 * THE door to ONNX Runtime: every model that runs (verify, the value probe, init, the trainer,
 * tests, benchmarks) is serialized by `sessionModel` and run through a `Session`, which
 * `withSession` always releases. The onnxruntime package is a parameter (onnxruntime-node or
 * onnxruntime-web: both implement onnxruntime-common's API); nothing here edits a model.
 *
 * How a model reaches ONNX Runtime: small tensors inline in the ModelProto; initializer payloads
 * of 64 KiB or more never inline (inlining would build a second copy of every weight in one
 * buffer before ONNX Runtime makes its own, and cannot pass protobuf's 2 GB limit), but as one
 * of (`SessionSettings.largeInitializers`):
 *   - 'initializers' (the default, for sessions that run many times: training, inference): in-memory
 *     external data (the session option `externalData`), each a view of the buffer the payload
 *     already lives in (the model file's data, or a tensor a pass computed). ONNX Runtime copies
 *     each once and may constant-fold and prepack them, which pays over many runs.
 *   - 'inputs' (for sessions that run once or a few times: init, verify, the value probe): graph
 *     inputs fed at every run with tensors over those same views. ONNX Runtime copies nothing, so
 *     a model of any size runs in little more memory than it already takes (measured in the
 *     README: init on a 2.4 GB model). Types ONNX Runtime's JavaScript tensors lack (bfloat16)
 *     stay external data.
 */
import type * as ort from 'onnxruntime-common';
import type { TensorProto } from '../onnx/proto';
import { DataType } from '../onnx/enums';
import { encodeModel } from '../onnx/codec';
import { externalForm, inlineAll } from '../onnx/external';
import { initializerInfo, type Model } from '../ir/model';
import { rawArray, tensorDims } from '../tensor/values';
import { option, WnError } from '../errors';
import { ortType, type ExecutionProvider, type Runtime } from './ort';

export type LargeInitializers = 'initializers' | 'inputs';

/** ONNX Runtime's log severity that prints only fatal errors. */
const FATAL = 4;

/** A large initializer fed as a graph input: its values viewing the model's own bytes. */
export interface FedInitializer { name: string; type: DataType; dims: number[]; data: ArrayBufferView }

/** What a session is created from. */
export interface SessionModel {
  /** The serialized ModelProto, large initializer payloads left out. */
  bytes: Uint8Array;
  /** Payloads as in-memory files the ModelProto's external_data entries point into. */
  externalData: { path: string; data: Uint8Array }[];
  /** Initializers turned into graph inputs, to be fed at every run ('inputs'). */
  fed: FedInitializer[];
}

/** Initializer payloads from this size on do not go inline. */
const LARGE = 1 << 16;

/** Feedable: a type ONNX Runtime's JavaScript tensors have. */
function fedForm(t: TensorProto): FedInitializer | undefined {
  const type = (t.data_type ?? 0) as DataType;
  const data = type === DataType.BFLOAT16 ? undefined : rawArray(t);
  return data ? { name: t.name ?? '', type, dims: tensorDims(t), data } : undefined;
}

/** Each payload as external data in a view of its own buffer: one file per buffer, spanning the bytes used. */
function asExternalViews(tensors: readonly TensorProto[]): { external: Map<TensorProto, TensorProto>; files: SessionModel['externalData'] } {
  const byBuffer = new Map<ArrayBufferLike, TensorProto[]>();
  for (const t of tensors) {
    const list = byBuffer.get(t.raw_data!.buffer);
    if (list) list.push(t);
    else byBuffer.set(t.raw_data!.buffer, [t]);
  }
  const external = new Map<TensorProto, TensorProto>();
  const files: SessionModel['externalData'] = [];
  for (const [buffer, group] of byBuffer) {
    const start = Math.min(...group.map((t) => t.raw_data!.byteOffset));
    const end = Math.max(...group.map((t) => t.raw_data!.byteOffset + t.raw_data!.length));
    const path = `wn-onnx-memory-${files.length}.bin`;
    files.push({ path, data: new Uint8Array(buffer, start, end - start) });
    for (const t of group) external.set(t, externalForm(t, path, t.raw_data!.byteOffset - start, t.raw_data!.length));
  }
  return { external, files };
}

/** Serializes a model for a session (see the header: small tensors inline, large ones by `large`). */
export function sessionModel(model: Model, large: LargeInitializers = 'initializers'): SessionModel {
  const graph = model.graph;
  const big = graph.initializers.filter((t) => (t.raw_data?.length ?? 0) >= LARGE);
  const fedTensors = new Map<TensorProto, FedInitializer>();
  if (large === 'inputs') {
    for (const t of big) {
      const fed = fedForm(t);
      if (fed) fedTensors.set(t, fed);
    }
  }
  const { external, files } = asExternalViews(big.filter((t) => !fedTensors.has(t)));
  let proto = model.proto;
  if (fedTensors.size) {
    const listed = new Set(graph.inputs.map((i) => i.name));
    const added = [...fedTensors.keys()].filter((t) => !listed.has(t.name)).map(initializerInfo);
    const initializer = graph.initializers.filter((t) => !fedTensors.has(t));
    proto = { ...proto, graph: { ...graph.proto, initializer, input: [...graph.inputs, ...added] } };
  }
  const bytes = encodeModel(proto, (t) => external.get(t) ?? inlineAll(t));
  return { bytes, externalData: files, fed: [...fedTensors.values()] };
}

export interface SessionSettings {
  ep?: ExecutionProvider;
  /** How initializers of 64 KiB or more reach ONNX Runtime (see the header); default 'initializers'. */
  largeInitializers?: LargeInitializers;
  /** ONNX Runtime session options (threads, optimization level, profiling …); providers come from `ep`. */
  options?: ort.InferenceSession.SessionOptions;
}

const HOW_TO_GET: Record<ExecutionProvider, string> = {
  cpu: '',
  cuda: 'the CUDA execution provider is not installed or no CUDA 12 GPU is usable: install onnxruntime-node\'s CUDA libraries'
    + ' on a machine with an NVIDIA GPU: `node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12`',
  wasm: 'the WebAssembly execution provider is onnxruntime-web\'s: pass onnxruntime-web as the runtime',
  webgpu: 'no WebGPU adapter is available: on a machine without a GPU install Debian\'s chromium and libvulkan1 and set VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json',
};

function firstLine(e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  return message.split('\n')[0].replace(/^.*?(Failed|Load model|Exception)/, '$1').trim();
}

/** An ONNX Runtime session over a model; failures become one-line errors. */
export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** Initializers fed as inputs, added to every run's feeds. */
    private readonly fed: Record<string, ort.Tensor>,
  ) {}

  static async open(runtime: Runtime, model: Model, { ep = 'cpu', largeInitializers, options = {} }: SessionSettings = {}): Promise<Session> {
    const { bytes, externalData, fed } = sessionModel(model, largeInitializers);
    const fedTensors = Object.fromEntries(fed.map((f) => [f.name, new runtime.Tensor(ortType(f.type), f.data as Float32Array, f.dims)]));
    try {
      // ONNX Runtime's own log lines would go to stderr beside ours: its failures reach the user as our one line
      const quiet = { logSeverityLevel: FATAL } as const;
      const session = await runtime.InferenceSession.create(bytes, { ...quiet, ...options, externalData, executionProviders: [ep] });
      return new Session(session, fedTensors);
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
      return await this.session.run({ ...this.fed, ...feeds });
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

/** One run of a model on `feeds`; its large initializers are fed as inputs unless the settings say otherwise. */
export function runModel(
  runtime: Runtime, model: Model, feeds: Record<string, ort.Tensor>, settings: SessionSettings = {},
): Promise<Record<string, ort.Tensor>> {
  return withSession(runtime, model, { largeInitializers: 'inputs', ...settings }, (session) => session.run(feeds));
}
