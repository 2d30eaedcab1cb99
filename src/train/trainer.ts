/**
 * Runs the compiled training step through ONNX Runtime: one session run per step, the updated
 * parameters, optimizer state and running statistics of one run fed unchanged (no copy) into
 * the next. Works with any onnxruntime package (node or web) and execution provider.
 */
import type * as ort from 'onnxruntime-common';
import { DataType, dataTypeName } from '../onnx/enums';
import type { TensorProto } from '../onnx/proto';
import { withoutFields } from '../onnx/codec';
import { Model } from '../ir/model';
import { readFloats, withFloatValues, elementCount } from '../tensor/values';
import { seededNormal, seededRandom } from '../tensor/random';
import { WnError } from '../errors';
import { Session, type SessionSettings } from '../runtime/session';
import type { Runtime } from '../runtime/ort';
import { probeBatchSizes, probeValueTypes } from '../runtime/value-probe';
import { nchwcBlockSize } from '../runtime/nchwc';
import type { NdArray } from '../data/array';
import type { LossKind } from './loss';
import { compileTrainingGraph, type TrainingGraph, type TrainingGraphOptions } from './step-graph';
import { lowerToNchwc } from './nchwc';

export interface TrainerOptions extends Omit<TrainingGraphOptions, 'types'> {
  runtime: Runtime;
  /** Seeds the dropout masks and input noise (one stream per step, so a resumed run draws the same). */
  seed?: number;
  /** Gaussian noise of this standard deviation added to the float data inputs of every training step (the paper's CIFAR model: 0.15). */
  inputNoise?: number;
  /** ONNX Runtime session options (threads, profiling …) for the step and evaluation sessions. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /**
   * Convs and MaxPools on ONNX Runtime's NCHWc CPU kernels where this machine has them (default true); false:
   * the sessions run the step graph exactly as compiled, as an exported step runs.
   */
  nchwc?: boolean;
}

/** What changes from step to step (the learning-rate schedule moves both). */
export interface StepSettings {
  lr: number;
  /** adam's β1 (default 0.9). */
  beta1?: number;
}

export interface StepResult {
  loss: number;
  /** The model output the loss is on. */
  output: ort.Tensor;
}

/** A carried tensor's current values, for checkpoints. */
export interface SavedTensor { name: string; type: DataType; dims: number[]; data: Float32Array | Float64Array }

/**
 * Carried state (parameters, optimizer state, running statistics) from which a step collects
 * the last step's copy at once: below it the collector's own cost (a few ms) is not worth it.
 */
const COLLECT_ABOVE_BYTES = 32 * 2 ** 20;

/** A tensor whose bytes are a view into a larger buffer (a model file's) as a copy of its own; else itself. */
function ownCopy(t: TensorProto): TensorProto {
  const raw = t.raw_data;
  // new Uint8Array(raw) copies; raw.slice() would not where raw is a Node Buffer
  return raw && raw.byteLength < raw.buffer.byteLength ? { ...t, raw_data: new Uint8Array(raw) } : t;
}

function ownInitializers(model: Model): void {
  for (const t of [...model.graph.initializers]) {
    const own = ownCopy(t);
    if (own !== t) model.graph.replaceInitializer(t.name!, [own]);
  }
}

/** The model with the values of `names` left out (the trainer holds them) and its other initializers its own. */
function withoutValues(model: Model, names: ReadonlySet<string>): Model {
  const g = model.graph.proto;
  const initializer = (g.initializer ?? []).map((t) => (names.has(t.name ?? '') ? withoutFields(t, ['raw_data', 'float_data', 'double_data']) : ownCopy(t)));
  return new Model({ ...model.proto, graph: { ...g, initializer } });
}

/**
 * Steps estimated under this many bytes keep ONNX Runtime's CPU arena, which `train` otherwise
 * turns off (src/node/malloc.ts: for large models the arena's blocks, grown by powers of two,
 * cost memory and time). The bundled CNN's step (66 MB estimated) under `train`'s malloc:
 * 9.94–10.64 ms with the arena against 10.74–11.74 ms without (medians of four interleaved
 * process pairs); ResNet-18's (687 MB) ran faster without (src/node/malloc.ts).
 */
const SMALL_STEP_BYTES = 256 * 2 ** 20;

/**
 * A session on `lowered` (Convs and MaxPools on NCHWc kernels), or on `plain` where ONNX
 * Runtime refuses the lowered graph: the kernels are an optimization, and the plain graph
 * computes the same.
 */
export async function openLowered(runtime: Runtime, lowered: Model, plain: Model, settings: SessionSettings): Promise<Session> {
  try {
    return await Session.open(runtime, lowered, settings);
  } catch (e) {
    if (lowered === plain) throw e;
    return Session.open(runtime, plain, settings);
  }
}

const ORT_FLOAT: Partial<Record<DataType, 'float32' | 'float64'>> = { [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64' };

export class Trainer {
  /** Steps taken (Adam's t is steps + 1 on the next step). */
  steps = 0;
  private evaluation?: Session;

  private constructor(
    readonly graph: TrainingGraph,
    private readonly source: Model,
    private readonly session: Session,
    private readonly options: TrainerOptions,
    private carried: Map<string, ort.Tensor>,
    /** Dims each batch input and the target must have (null: any size). */
    private readonly feedDims: Map<string, (number | null)[]>,
    /** The evaluation graph as its session runs it (Convs on NCHWc kernels where there are). */
    private readonly evaluationModel: Model,
  ) {}

  /**
   * Compiles and loads the step graph. `probeBatches`: feeds of the model's inputs at one or two
   * batch sizes (the axes that differ vary with the batch). Given one, a second size is made
   * from its rows where the model's batch axis is dynamic, so the step takes any batch size.
   */
  static async create(model: Model, probeBatches: readonly Record<string, ort.Tensor>[], given: TrainerOptions): Promise<Trainer> {
    const { runtime, ep = 'cpu' } = given;
    const types = await probeValueTypes(runtime, model, probeBatchSizes(runtime, model, probeBatches));
    const graph = compileTrainingGraph(model, { ...given, types });
    // ONNX Runtime's CPU arena for a step estimated small, whatever the runtime's default (see SMALL_STEP_BYTES)
    const arena = graph.memory && graph.memory.bytes < SMALL_STEP_BYTES ? { enableCpuMemArena: true } : {};
    const options = { ...given, sessionOptions: { ...arena, ...given.sessionOptions } };
    // no memory pattern: ONNX Runtime's preplanned blocks held about a third more memory in training steps, at no gain in speed
    const sessionOptions = { enableMemPattern: false, ...options.sessionOptions };
    const block = options.nchwc === false ? 0 : await nchwcBlockSize(runtime, ep);
    const session = await openLowered(runtime, lowerToNchwc(graph.model, types, block), graph.model, { ep, options: sessionOptions });
    const carried = new Map<string, ort.Tensor>();
    for (const c of graph.carried) {
      const ortType = ORT_FLOAT[c.type];
      if (!ortType) throw new WnError(`parameter "${c.input}" is ${dataTypeName(c.type)}; wn-onnx trains float32 and float64 models (convert a float16 model to float32 first)`);
      const values = c.initializer ? readFloats(model.graph.initializer(c.initializer)!) : undefined;
      const count = elementCount(c.dims);
      const data = ortType === 'float32' ? new Float32Array(count) : new Float64Array(count);
      if (values) data.set(values);
      carried.set(c.input, new runtime.Tensor(ortType, data, c.dims));
    }
    // the trainer's models hold their own copies of what they keep, and the model passed in none
    // of the weights: once the caller lets go of its model, its weights (and the file bytes
    // they view) are freed, and the carried tensors hold the only copy
    for (const kept of [graph.model, graph.evaluation.model]) ownInitializers(kept);
    const skeleton = withoutValues(model, new Set(graph.carried.flatMap((c) => (c.initializer ? [c.initializer] : []))));
    const feedDims = new Map(graph.data.filter((name) => types.has(name)).map((name) => [name, types.get(name)!.dims]));
    feedDims.set(graph.target, graph.outputDims);
    const evaluation = lowerToNchwc(graph.evaluation.model, types, block);
    return new Trainer(graph, skeleton, session, options, carried, feedDims, evaluation);
  }

  /**
   * A batch and its target against the dims the step graph was compiled for, and one size of the
   * batch axis (axis 0, as everywhere in wn-onnx) where it varies: one line on a misfit, before
   * ONNX Runtime says it less clearly.
   */
  private checkFeeds(batch: Record<string, ort.Tensor>, target: ort.Tensor): void {
    for (const [name, dims] of this.feedDims) {
      const t = name === this.graph.target ? target : batch[name];
      if (!t) continue;
      const what = name === this.graph.target ? 'the target' : `input "${name}"`;
      if (t.dims.length !== dims.length || dims.some((d, i) => d !== null && d !== t.dims[i])) {
        throw new WnError(`${what} has shape [${t.dims}], the step graph takes [${dims.map((d) => d ?? 'N')}] (N: any size; a number `
          + 'is fixed: the model fixes it, or it did not change between the probe batches Trainer.create was given); feed that shape');
      }
      if (dims[0] === null && this.graph.outputDims[0] === null && t.dims[0] !== target.dims[0]) {
        throw new WnError(`${what} has ${t.dims[0]} rows, the target ${target.dims[0]}; give one target per sample`);
      }
    }
  }

  private scalar(value: number): ort.Tensor {
    const type = ORT_FLOAT[this.graph.carried[0].type]!;
    return new this.options.runtime.Tensor(type, type === 'float32' ? Float32Array.of(value) : Float64Array.of(value), []);
  }

  private scalarFeeds({ lr, beta1 = 0.9 }: StepSettings): Record<string, ort.Tensor> {
    const s = this.graph.scalars;
    if (!s.beta1) return { [s.stepSize]: this.scalar(lr) };
    const t = this.steps + 1;
    const beta2 = this.options.optimizer?.beta2 ?? 0.999;
    return {
      [s.stepSize]: this.scalar(lr / (1 - beta1 ** t)),
      [s.beta1]: this.scalar(beta1),
      [s.oneMinusBeta1!]: this.scalar(1 - beta1),
      [s.biasCorrection2Sqrt!]: this.scalar(Math.sqrt(1 - beta2 ** t)),
    };
  }

  /** Dropout masks for this step: Bernoulli(keep)/keep, from a stream seeded by (seed, step). */
  private maskFeeds(rows: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    if (!this.graph.dropoutMasks.length) return feeds;
    const random = seededRandom(((this.options.seed ?? 0) * 0x9e3779b1 + this.steps) >>> 0);
    for (const mask of this.graph.dropoutMasks) {
      const dims = mask.dims.map((d) => d ?? rows);
      const data = new Float32Array(elementCount(dims));
      for (let i = 0; i < data.length; i++) data[i] = random() < mask.keep ? 1 / mask.keep : 0;
      feeds[mask.input] = new this.options.runtime.Tensor('float32', data, dims);
    }
    return feeds;
  }

  /** The batch with N(0, inputNoise²) added to its float data inputs, from a stream seeded by (seed, step); as it is without noise. */
  private noisy(batch: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    const std = this.options.inputNoise ?? 0;
    if (!std) return batch;
    // another mix of (seed, step) than the masks', so noise and masks are independent streams
    const normal = seededNormal(((this.options.seed ?? 0) * 0x85ebca6b + this.steps + 0x27d4eb2f) >>> 0);
    const noisy: Record<string, ort.Tensor> = { ...batch };
    for (const name of this.graph.data) {
      const t = batch[name];
      if (!t || (t.type !== 'float32' && t.type !== 'float64')) continue;
      const data = (t.data as Float32Array | Float64Array).slice();
      for (let i = 0; i < data.length; i++) data[i] += std * normal();
      noisy[name] = new this.options.runtime.Tensor(t.type, data, t.dims);
    }
    return noisy;
  }

  /** One training step on a batch; the parameters move only if the loss is finite. */
  async step(batch: Record<string, ort.Tensor>, target: ort.Tensor, settings: StepSettings): Promise<StepResult> {
    this.checkFeeds(batch, target);
    const rows = target.dims[0];
    const feeds: Record<string, ort.Tensor> = { ...this.noisy(batch), [this.graph.target]: target, ...this.scalarFeeds(settings), ...this.maskFeeds(rows) };
    for (const [name, t] of this.carried) feeds[name] = t;
    const outputs = await this.session.run(feeds);
    const loss = Number(outputs[this.graph.loss].data[0]);
    if (Number.isFinite(loss)) {
      for (const c of this.graph.carried) this.carried.set(c.input, outputs[c.output]);
      this.steps++;
      // the last step's state is garbage now; left to the collector, it stays in memory beside the new one for a while
      if (this.carriedBytes >= COLLECT_ABOVE_BYTES) this.options.runtime.collectGarbage?.();
    }
    return { loss, output: outputs[this.graph.output] };
  }

  private get carriedBytes(): number {
    let bytes = 0;
    for (const t of this.carried.values()) bytes += (t.data as Float32Array | Float64Array).byteLength;
    return bytes;
  }

  get lossKind(): LossKind { return this.options.loss ?? 'cross-entropy'; }

  /** Dims of the output the loss is on (null where they vary with the batch). */
  get outputDims(): (number | null)[] { return this.graph.outputDims; }

  /**
   * The target input for a batch. `targets`: class indices for cross-entropy (one per sample;
   * the tensor is one-hot [N, C]), values of the output's shape per sample for mse and l1; a
   * plain array (number[], a typed array) or an NdArray. `rows`: the samples (default: all).
   */
  targetTensor(targets: NdArray | ArrayLike<number | bigint>, rows?: ArrayLike<number>): ort.Tensor {
    const type = ORT_FLOAT[this.graph.carried[0].type]!;
    const classification = this.lossKind === 'cross-entropy';
    const rowDims = this.outputDims.slice(1).map((d) => d ?? 1);
    const perRow = classification ? 1 : elementCount(rowDims);
    const nd = 'shape' in targets ? targets : undefined;
    const data = nd ? nd.data : targets as ArrayLike<number | bigint>;
    const samples = nd ? nd.shape[0] : data.length / perRow;
    if (!Number.isInteger(samples) || (nd && elementCount(nd.shape.slice(1)) !== perRow)) {
      const expected = classification ? 'one class index per sample'
        : `${perRow} values per sample (the output is [${this.outputDims.map((d) => d ?? 'N')}])`;
      const given = nd ? `shape [${nd.shape}]` : `${data.length} values`;
      throw new WnError(`the targets (${given}) do not fit: ${this.lossKind} takes ${expected}`);
    }
    const classes = classification ? this.outputDims[1]! : 0;
    const width = classification ? classes : perRow;
    const count = rows?.length ?? samples;
    const values = new (type === 'float32' ? Float32Array : Float64Array)(count * width);
    for (let r = 0; r < count; r++) {
      const row = rows ? rows[r] : r;
      if (!(Number.isInteger(row) && row >= 0 && row < samples)) {
        throw new WnError(`row ${row} asked for, the targets have ${samples} samples (0..${samples - 1})`);
      }
      if (!classification) {
        for (let k = 0; k < perRow; k++) values[r * perRow + k] = Number(data[row * perRow + k]);
        continue;
      }
      const label = Number(data[row]);
      if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
        throw new WnError(`label ${label} of sample ${row} is no class index of the model's ${classes} classes (0..${classes - 1})`);
      }
      values[r * classes + label] = 1;
    }
    return new this.options.runtime.Tensor(type, values, classification ? [count, classes] : [count, ...rowDims]);
  }

  /** Loss and output on a batch with the current parameters, as the model runs for inference. */
  async evaluate(batch: Record<string, ort.Tensor>, target: ort.Tensor): Promise<StepResult> {
    this.checkFeeds(batch, target);
    const e = this.graph.evaluation;
    const settings = { ep: this.options.ep, options: this.options.sessionOptions };
    this.evaluation ??= await openLowered(this.options.runtime, this.evaluationModel, e.model, settings);
    const feeds: Record<string, ort.Tensor> = { ...batch, [e.target]: target };
    for (const c of this.graph.carried) if (c.initializer) feeds[c.input] = this.carried.get(c.input)!;
    const outputs = await this.evaluation.run(feeds);
    return { loss: Number(outputs[e.loss].data[0]), output: outputs[e.output] };
  }

  /** The input model with the trained values in its initializers (same form: WN stays WN). */
  trainedModel(): Model {
    const updated = new Map<string, ort.Tensor>();
    for (const c of this.graph.carried) if (c.initializer) updated.set(c.initializer, this.carried.get(c.input)!);
    const g = this.source.graph.proto;
    const initializer = (g.initializer ?? []).map((t) => {
      const values = updated.get(t.name ?? '');
      // a copy: the model is the caller's to change (fold writes W into v's bytes)
      return values ? withFloatValues(t, (values.data as Float32Array).slice()) : t;
    });
    return new Model({ ...this.source.proto, graph: { ...g, initializer } });
  }

  /** Every carried tensor (parameters, optimizer state, running statistics). */
  saved(): SavedTensor[] {
    return this.graph.carried.map((c) => ({ name: c.input, type: c.type, dims: c.dims, data: this.carried.get(c.input)!.data as Float32Array }));
  }

  /** Restores carried tensors saved by `saved()` (a checkpoint) and the step count. */
  restore(tensors: readonly SavedTensor[], steps: number): void {
    for (const c of this.graph.carried) {
      const t = tensors.find((s) => s.name === c.input);
      if (!t || t.dims.join() !== c.dims.join()) throw new WnError(`the checkpoint has no state "${c.input}" of shape [${c.dims}]; it was made with other training options or another model`);
      this.carried.set(c.input, new this.options.runtime.Tensor(ORT_FLOAT[c.type]!, t.data, c.dims));
    }
    this.steps = steps;
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.evaluation?.release();
  }
}
