/**
 * The page: DOM wiring over pipeline.ts. Every button runs one stage on the bytes of the stage
 * before; `window.wnOnnx` drives the same functions for tests. Only the page's own files are
 * ever requested (the model, data and onnxruntime-web come from this origin; user files are read locally).
 */
import * as ort from 'onnxruntime-web';
import type { EpochSummary } from '../../src/index';
import { drawChart, type ChartData } from './chart';
import {
  convertBytes, foldBytes, initBytes, inspectBytes, readSamples, trainBytes, yieldingRuntime, type PageEp, type Samples, type TrainSettings,
} from './pipeline';

ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
ort.env.logLevel = 'fatal';
/**
 * wasm threads (1 = off) from `?threads=N`, else one per core: onnxruntime-web reads numThreads once, at its first
 * session, so the control below reloads the page with the new value rather than pretending to change it live.
 */
function threadsFromUrl(): number {
  const asked = new URLSearchParams(location.search).get('threads');
  const n = Number(asked);
  return asked !== null && Number.isInteger(n) && n >= 1 ? n : navigator.hardwareConcurrency;
}
ort.env.wasm.numThreads = threadsFromUrl();
const runtime = yieldingRuntime(ort);

type Stage = 'original' | 'converted' | 'initialized' | 'trained' | 'folded';
const state: { name: string; models: Partial<Record<Stage, Uint8Array>>; train?: Samples; test?: Samples; stop: boolean } = {
  name: 'model', models: {}, stop: false,
};
const $ = <T extends HTMLElement = HTMLInputElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => $(id).value.trim();

function status(text: string, error = false): void {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

/** Runs a button's work with errors shown on one line (the core's WnError messages are one line already). */
async function guarded<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (e) {
    status(`error: ${String((e as Error).message ?? e).split('\n')[0]}`, true);
    return undefined;
  }
}

// ---- execution provider ----
async function detectEp(): Promise<PageEp> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu && await gpu.requestAdapter().catch(() => null);
  $('ep-note').textContent = adapter ? 'WebGPU adapter found' : 'no WebGPU adapter: using wasm';
  return adapter ? 'webgpu' : 'wasm';
}
const ep = (): PageEp => value('ep') as PageEp;

// ---- models ----
const GIB2 = 2 ** 31;

/** Reads a picked or dropped file in pieces, showing progress; says why when it cannot fit. */
async function readFile(file: File): Promise<Uint8Array> {
  if (file.size >= GIB2) {
    throw new Error(`${file.name} is ${(file.size / 1e9).toFixed(2)} GB: a model past protobuf's 2 GB limit keeps its weights in external data files, `
      + 'which a page cannot open; use the command line (npx wn-onnx)');
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(file.size);
  } catch {
    throw new Error(`${file.name}: this tab cannot get ${(file.size / 1e9).toFixed(2)} GB of memory; close other tabs or use the command line`);
  }
  const progress = $<HTMLProgressElement>('load-progress');
  progress.hidden = false;
  let offset = 0;
  const reader = file.stream().getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    bytes.set(chunk.value, offset);
    offset += chunk.value.length;
    progress.value = offset / Math.max(file.size, 1);
  }
  progress.hidden = true;
  return bytes;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

function showInspect(bytes: Uint8Array): void {
  const layers = inspectBytes(bytes);
  const f = (s?: { min: number; mean: number; max: number }) => (s ? [s.min, s.mean, s.max].map((x) => x.toPrecision(3)).join(' / ') : '');
  const rows = layers.map((l) => [l.node, l.op, l.input, l.form, l.shape ? `[${l.shape}]` : '', String(l.features ?? ''), f(l.g), f(l.vNorm ?? l.wNorm), l.note ?? '']);
  const table = $<HTMLTableElement>('inspect');
  table.replaceChildren();
  const header = ['node', 'op', 'weight', 'form', 'shape', 'features', 'g min/mean/max', '‖v‖ (plain: ‖W‖) min/mean/max', 'note'];
  for (const [i, cells] of [header, ...rows].entries()) {
    const tr = table.insertRow();
    for (const cell of cells) {
      const td = document.createElement(i ? 'td' : 'th');
      td.textContent = cell;
      tr.append(td);
    }
  }
}

function setStage(stage: Stage, bytes: Uint8Array): void {
  state.models[stage] = bytes;
  const later: Stage[] = (['original', 'converted', 'initialized', 'trained', 'folded'] as Stage[]).slice(stageOrder(stage) + 1);
  for (const s of later) delete state.models[s];
  showInspect(bytes);
  const list = $('downloads');
  list.replaceChildren();
  for (const [s, b] of Object.entries(state.models) as [Stage, Uint8Array][]) {
    if (s === 'original') continue;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([b as BlobPart], { type: 'application/octet-stream' }));
    a.download = `${state.name}_${s}.onnx`;
    a.textContent = `${a.download} (${(b.length / 1024).toFixed(1)} KiB)`;
    a.id = `download-${s}`;
    const li = document.createElement('li');
    li.append(a);
    list.append(li);
  }
}
const stageOrder = (s: Stage) => ['original', 'converted', 'initialized', 'trained', 'folded'].indexOf(s);
/** The newest model there is (each stage works on what the one before made). */
const latest = (): Uint8Array => {
  const stages = Object.keys(state.models) as Stage[];
  if (!stages.length) throw new Error('open a model first');
  return state.models[stages.sort((a, b) => stageOrder(b) - stageOrder(a))[0]]!;
};

async function openModel(name: string, bytes: Uint8Array): Promise<void> {
  state.name = name.replace(/\.onnx$/, '');
  setStage('original', bytes);
  status(`opened ${name} (${(bytes.length / 1024).toFixed(1)} KiB)`);
}
const openBundled = async (name: string) => openModel(`${name}.onnx`, await fetchBytes(`models/${name}.onnx`));

// ---- stages ----
function convertModel(options: { ops?: string[]; include?: string; exclude?: string; eps?: number } = {}): void {
  const { bytes, report } = convertBytes(state.models.original ?? latest(), {
    ops: options.ops as never, include: options.include ? new RegExp(options.include) : undefined,
    exclude: options.exclude ? new RegExp(options.exclude) : undefined, eps: options.eps,
  });
  setStage('converted', bytes);
  status(`${report.converted.length} weights converted, ${report.skipped.length} layer inputs skipped`);
}

async function samples(): Promise<{ train: Samples; test?: Samples }> {
  if (value('data-source') === 'file') {
    const images = $('images-file').files?.[0];
    const labels = $('labels-file').files?.[0];
    if (!images) throw new Error('pick an images file (.npy, .npz, IDX, gzipped or not)');
    return { train: readSamples(await readFile(images), images.name, labels && await readFile(labels), labels?.name) };
  }
  if (!state.train) {
    const get = (name: string) => fetchBytes(`data/${name}-ubyte.gz`);
    state.train = readSamples(await get('train-images-idx3'), 'train-images', await get('train-labels-idx1'), 'train-labels');
    state.test = readSamples(await get('t10k-images-idx3'), 't10k-images', await get('t10k-labels-idx1'), 't10k-labels');
  }
  return { train: state.train, test: state.test };
}

async function initModel(rows: number): Promise<void> {
  if (!state.models.converted) throw new Error('convert the model first');
  status(`init on ${rows} rows (${ep()})…`);
  const { bytes, report } = await initBytes(runtime, ep(), state.models.converted, (await samples()).train, rows);
  setStage('initialized', bytes);
  status(`${report.layers.length} layers initialized: every pre-activation has mean 0 and std ${report.scale} on the batch`);
}

type TrainResult = { losses: number[]; epochs: EpochSummary[]; stopped: boolean; stepMs: number[] };

async function trainModel(settings: TrainSettings): Promise<TrainResult> {
  const start = state.models.initialized ?? state.models.converted ?? latest();
  const data = await samples();
  const chart: ChartData = { losses: [], stepsPerEpoch: 1, trainAccuracy: [], valAccuracy: [] };
  const canvas = $<HTMLCanvasElement>('chart');
  const progress = $<HTMLProgressElement>('train-progress');
  state.stop = false;
  $<HTMLButtonElement>('stop').disabled = false;
  status(`training on ${ep()}…`);
  // each step's time as the page lives it (the step, the chart, the turns given to the page); the first includes setting up
  const stepMs: number[] = [];
  let stepStarted = performance.now();
  try {
    const result = await trainBytes(runtime, ep(), start, data.train, data.test, settings, {
      onBatch: (p) => {
        const now = performance.now();
        stepMs.push(now - stepStarted);
        stepStarted = now;
        chart.losses.push(p.loss);
        chart.stepsPerEpoch = p.batches;
        progress.value = ((p.epoch - 1) * p.batches + p.batch) / (p.batches * settings.epochs);
        $('train-stats').textContent = `epoch ${p.epoch}/${settings.epochs}, batch ${p.batch}/${p.batches}, loss ${p.loss.toFixed(4)}, `
          + `${Math.round(p.samplesPerSecond)} samples/s`;
        drawChart(canvas, chart);
        return state.stop;
      },
      onEpoch: (s) => {
        chart.trainAccuracy.push(s.trainAccuracy ?? NaN);
        chart.valAccuracy.push(s.valAccuracy ?? NaN);
        drawChart(canvas, chart);
      },
    });
    setStage('trained', result.bytes);
    const last = result.epochs.at(-1);
    const acc = last?.valAccuracy !== undefined ? `, test accuracy ${(100 * last.valAccuracy).toFixed(2)}%` : '';
    status(`${result.stopped ? 'stopped' : 'trained'} after ${result.losses.length} steps${acc}`);
    return { ...result, stepMs };
  } finally {
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

function foldModel(): void {
  const { bytes, report } = foldBytes(state.models.trained ?? latest());
  setStage('folded', bytes);
  status(`folded ${report.folded.length} weights: the model has its original operators again`);
}

// ---- buttons ----
const button = (id: string, work: () => unknown) => $(id).addEventListener('click', () => void guarded(async () => work()));
const settingsFromForm = (): TrainSettings => ({
  epochs: Number(value('epochs')), batchSize: Number(value('batch-size')), lr: Number(value('lr')),
  optimizer: value('optimizer') as 'adam' | 'sgd', shuffle: $('shuffle').checked,
});
document.querySelectorAll<HTMLButtonElement>('button[data-model]').forEach((b) => b.addEventListener('click', () => void guarded(() => openBundled(b.dataset.model!))));
$('model-file').addEventListener('change', () => {
  const file = $('model-file').files?.[0];
  if (file) void guarded(async () => openModel(file.name, await readFile(file)));
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void guarded(async () => openModel(file.name, await readFile(file)));
});
$('threads').value = String(ort.env.wasm.numThreads);
$('threads').addEventListener('change', () => {
  const n = Number(value('threads'));
  if (!Number.isInteger(n) || n < 1) return status('wasm threads: a whole number from 1 (1 = threads off)', true);
  const url = new URL(location.href);
  url.searchParams.set('threads', String(n));
  location.assign(url.href);
});
$('data-source').addEventListener('change', () => { $('data-files').hidden = value('data-source') !== 'file'; state.train = undefined; });
button('convert', () => convertModel({
  ops: value('ops') ? value('ops').split(',').map((s) => s.trim()) : undefined,
  include: value('include') || undefined, exclude: value('exclude') || undefined, eps: Number(value('eps')),
}));
button('init', () => initModel(Number(value('init-rows'))));
button('train', () => trainModel(settingsFromForm()));
button('stop', () => { state.stop = true; });
button('fold', () => foldModel());

// ---- the test API: the same functions the buttons call ----
const base64 = (bytes?: Uint8Array) => (bytes ? btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join('')) : undefined);

interface RunOptions {
  model: string; ep?: PageEp; convert?: { ops?: string[]; include?: string; exclude?: string; eps?: number };
  initRows?: number; train?: Partial<TrainSettings>;
}

const ready = detectEp().then((chosen) => { $('ep').value = chosen; });

Object.assign(window, {
  wnOnnx: {
    ready,
    ep,
    /** wasm threads in use (from `?threads=N`, else one per core). */
    threads: () => ort.env.wasm.numThreads,
    /** Fetches a model from the page's origin, then converts it and folds the result, as the buttons do; times in ms. */
    async timeConvertFold(url: string) {
      const bytes = await fetchBytes(url);
      let started = performance.now();
      const converted = convertBytes(bytes, {}).bytes;
      const convertMs = performance.now() - started;
      started = performance.now();
      const folded = foldBytes(converted).bytes;
      const foldMs = performance.now() - started;
      return { bytes: bytes.length, convertMs, foldMs, convertedBytes: converted.length, foldedBytes: folded.length };
    },
    /**
     * Open a bundled model, convert, init, train, fold; each model's bytes as base64, the step losses and times. Settings
     * not given are the form's (the page's defaults: 100 init rows; 3 epochs, batch 100, lr 0.002, adam, shuffled).
     */
    async run(options: RunOptions) {
      await ready;
      if (options.ep) $('ep').value = options.ep;
      await openBundled(options.model);
      convertModel(options.convert);
      // what is not given is what the form holds: the page's defaults
      await initModel(options.initRows ?? Number(value('init-rows')));
      const result = await trainModel({ ...settingsFromForm(), ...options.train });
      foldModel();
      const m = state.models;
      return { converted: base64(m.converted), initialized: base64(m.initialized), trained: base64(m.trained), folded: base64(m.folded),
        losses: result.losses, stepMs: result.stepMs, epochs: result.epochs, status: $('status').textContent };
    },
  },
});
