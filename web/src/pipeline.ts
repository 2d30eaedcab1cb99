/**
 * The page's work, without the DOM: each stage takes the bytes of the stage before and gives
 * the bytes of its model, so every model can be downloaded and re-run. The buttons and the test
 * API (`window.wnOnnx`) both call these; all of it is wn-onnx's core, run by onnxruntime-web.
 */
import type * as ort from 'onnxruntime-web';
import {
  assignInputs, batchRows, checkTargets, convert, dataDependentInit, evaluate, fit, fold, inputSpecs, inputTensor, inspectModel,
  loadModel, readSampleData, saveModel, Trainer, WnError, type ConvertOptions, type Dataset, type EpochSummary, type LayerInfo,
  type NdArray, type Runtime,
} from '../../src/index';

/** What the page offers; 'wasm' is onnxruntime-web's CPU provider (the core calls it 'cpu'). */
export type PageEp = 'webgpu' | 'wasm';
const coreEp = (ep: PageEp) => (ep === 'webgpu' ? 'webgpu' : 'cpu');

/** Sample data: images and labels as the core reads them, with where they came from. */
export interface Samples { images: NdArray; labels?: NdArray; source: string }

export function readSamples(imageBytes: Uint8Array, imageSource: string, labelBytes?: Uint8Array, labelSource = ''): Samples {
  return { images: single(imageBytes, imageSource), labels: labelBytes && single(labelBytes, labelSource), source: imageSource };
}

function single(bytes: Uint8Array, source: string): NdArray {
  const arrays = readSampleData(bytes, source);
  if (arrays.size !== 1) throw new WnError(`${source}: holds ${arrays.size} arrays; pick a file with one array`);
  return [...arrays.values()][0];
}

/** The first `rows` rows of an array (all when rows is undefined or larger). */
export function firstRows(array: NdArray, rows?: number): NdArray {
  const total = array.shape[0];
  if (rows === undefined || rows >= total) return array;
  const rowSize = array.shape.slice(1).reduce((a, b) => a * b, 1);
  return { ...array, data: (array.data as Uint8Array).subarray(0, rows * rowSize) as unknown as NdArray["data"], shape: [rows, ...array.shape.slice(1)] };
}

/**
 * A model over a copy of a stage's bytes: the core's tensors view the bytes they were decoded
 * from, and fold writes W into v's bytes, so working on the stage's own bytes would change the
 * model the page already holds (and offers for download).
 */
const modelOf = (bytes: Uint8Array) => loadModel(bytes.slice());

export function inspectBytes(bytes: Uint8Array): LayerInfo[] {
  return inspectModel(modelOf(bytes));
}

export function convertBytes(bytes: Uint8Array, options: ConvertOptions) {
  const model = modelOf(bytes);
  const { report } = convert(model, options);
  return { bytes: saveModel(model), report };
}

export function foldBytes(bytes: Uint8Array) {
  const model = modelOf(bytes);
  const { report } = fold(model);
  return { bytes: saveModel(model), report };
}

function dataset(model: ReturnType<typeof modelOf>, samples: Samples, rows?: number): Dataset {
  if (!samples.labels) throw new WnError(`${samples.source}: training needs labels; pick a labels file too`);
  const inputs = assignInputs(inputSpecs(model), [{ source: samples.source, arrays: new Map([['', firstRows(samples.images, rows)]]) }]);
  return { inputs, targets: firstRows(samples.labels, rows), source: samples.source };
}

/** Data-dependent init on the first `rows` rows of the samples. */
export async function initBytes(runtime: Runtime, ep: PageEp, bytes: Uint8Array, samples: Samples, rows: number) {
  const model = modelOf(bytes);
  const [input] = assignInputs(inputSpecs(model), [{ source: samples.source, arrays: new Map([['', samples.images]]) }]);
  const batch = batchRows(input, rows);
  const { report } = await dataDependentInit(model, { [input.spec.name]: inputTensor(runtime, input, batch) }, { runtime, ep: coreEp(ep) });
  return { bytes: saveModel(model), report };
}

export interface TrainSettings {
  epochs: number; batchSize: number; lr: number; optimizer: 'adam' | 'sgd'; shuffle: boolean;
  /** Training rows used (the first ones; all by default). */
  rows?: number;
}

export interface TrainProgress { epoch: number; batch: number; batches: number; loss: number; samplesPerSecond: number }

/** Thrown from the batch hook to end training early; the steps done so far are kept. */
class Stopped extends Error {}

/**
 * Trains with the core's `fit`; `onBatch` may return true to stop. Gives the trained model's
 * bytes, every step's loss and the per-epoch summaries (validation on `validation` if given).
 */
export async function trainBytes(
  runtime: Runtime, ep: PageEp, bytes: Uint8Array, train: Samples, validation: Samples | undefined, settings: TrainSettings,
  hooks: { onBatch?: (p: TrainProgress) => boolean | void; onEpoch?: (s: EpochSummary) => void } = {},
) {
  const model = modelOf(bytes);
  const data = dataset(model, train, settings.rows);
  const [input] = data.inputs;
  const probe = { [input.spec.name]: inputTensor(runtime, input, Math.min(2, input.array.shape[0])) };
  const trainer = await Trainer.create(model, [probe], { runtime, ep: coreEp(ep), loss: 'cross-entropy', optimizer: { kind: settings.optimizer } });
  const losses: number[] = [];
  const epochs: EpochSummary[] = [];
  let stopped = false;
  try {
    checkTargets(trainer, data);
    const val = validation && dataset(model, validation);
    await fit(trainer, data, {
      runtime, epochs: settings.epochs, batchSize: settings.batchSize, shuffle: settings.shuffle, lr: settings.lr, validation: val,
      onBatch: (p) => {
        losses.push(p.loss);
        if (hooks.onBatch?.({ epoch: p.epoch, batch: p.batch, batches: p.batches, loss: p.loss, samplesPerSecond: p.samples / p.seconds })) {
          throw new Stopped();
        }
      },
      onEpoch: (s) => { epochs.push(s); hooks.onEpoch?.(s); },
    });
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
    stopped = true;
    // the epoch in progress has no summary: evaluate what was trained so far
    if (validation) hooks.onEpoch?.({ epoch: epochs.length + 1, trainLoss: NaN, samplesPerSecond: NaN, seconds: NaN, lr: settings.lr,
      ...await evaluate(trainer, dataset(model, validation), settings.batchSize, runtime) });
  }
  const trained = saveModel(trainer.trainedModel());
  await trainer.release();
  return { bytes: trained, losses, epochs, stopped };
}

/**
 * onnxruntime-web whose sessions give the page a turn (a task boundary) every ~30 ms of runs:
 * the wasm provider runs on this thread and settles its promises as microtasks, so without
 * this the chart, the progress bar and the stop button would wait for training to end.
 */
export function yieldingRuntime(ortModule: typeof ort): Runtime {
  let lastTurn = performance.now();
  const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  const create = async (...args: unknown[]) => {
    const session = await (ortModule.InferenceSession.create as (...a: unknown[]) => Promise<ort.InferenceSession>)(...args);
    const run = session.run.bind(session);
    session.run = (async (...runArgs: Parameters<typeof run>) => {
      if (performance.now() - lastTurn > 30) {
        await turn();
        lastTurn = performance.now();
      }
      return run(...runArgs);
    }) as typeof session.run;
    return session;
  };
  return { Tensor: ortModule.Tensor, InferenceSession: { ...ortModule.InferenceSession, create } } as unknown as Runtime;
}
