/**
 * What the fuzzer does to a seed before a command reads it: bytes cut or flipped, the decoded
 * ModelProto edited (tensors, graph, weight-norm marker specs, names), external data pointed at
 * hostile places, sample data damaged. Every choice is drawn from the case's Random, so a
 * (seed, case index) pair always makes the same files.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import * as protobuf from 'protobufjs';
import { dump } from 'npyjs';
import { printable } from '../../src/errors';
import { createTensorProto, decodeModel, encodeModel } from '../../src/onnx/codec';
import { AttributeType, DataLocation, DataType } from '../../src/onnx/enums';
import type { GraphProto, Int64, ModelProto, NodeProto, StringStringEntryProto, TensorProto } from '../../src/onnx/proto';
import { MARKER } from '../../src/wn/spec';
import type { Random } from './random';
import type { SeedModel } from './seeds';

export type CommandName = 'inspect' | 'inspect --json' | 'convert' | 'fold' | 'init' | 'train' | 'export-train-step';

export const DATA_FILE = 'x.npy';
export const LABELS_FILE = 'y.npy';
export const MODEL_FILE = 'model.onnx';

/** The model of a case, as bytes or decoded (each form made from the other when asked for). */
export class ModelFile {
  private decoded?: ModelProto;

  constructor(private raw: Buffer) {}

  get bytes(): Buffer {
    if (this.decoded) this.raw = Buffer.from(encodeModel(this.decoded));
    this.decoded = undefined;
    return this.raw;
  }

  set bytes(bytes: Buffer) {
    this.decoded = undefined;
    this.raw = bytes;
  }

  /** The decoded model; edits to it are kept (bytes fields are views of the seed: replace them, never write into them). */
  get proto(): ModelProto {
    this.decoded ??= decodeModel(this.raw);
    return this.decoded;
  }
}

export interface MutationContext {
  rng: Random;
  seed: SeedModel;
  command: CommandName;
  model: ModelFile;
  /** The model's folder, where the command runs. */
  dir: string;
  /** A folder beside it: outside the model's folder, inside the case's. */
  outside: string;
}

/** `file` mutations replace the model file itself, after it is written (never with the model read from standard input). */
export type MutationGroup = 'none' | 'bytes' | 'file' | 'tensor' | 'graph' | 'spec' | 'name' | 'external' | 'data';

export interface Mutation {
  name: string;
  group: MutationGroup;
  applies(seed: SeedModel, command: CommandName): boolean;
  /** Changes the case's files; returns what it did, in a few words. */
  apply(ctx: MutationContext): string;
}

/** Groups that edit the decoded model: a case may stack a second one (STACKABLE: spec edits need the spec convert wrote). */
export const STRUCTURAL: readonly MutationGroup[] = ['tensor', 'graph', 'spec', 'name'];
export const STACKABLE: readonly MutationGroup[] = ['tensor', 'graph', 'name'];

// ---------------------------------------------------------------- helpers

const always = () => true;
/** The commands that read sample data (x.npy; train also y.npy). */
export const readsData = (command: CommandName) => command === 'init' || command === 'train';
const needsData = (_seed: SeedModel, command: CommandName) => readsData(command);
const isWeightNormalized = (seed: SeedModel) => seed.weightNormalized;
const hasExternal = (seed: SeedModel) => seed.externalFiles.length > 0;
const hasInline = (seed: SeedModel) => seed.externalFiles.length === 0;

const graphOf = (ctx: MutationContext): GraphProto => ctx.model.proto.graph!;
const initializers = (ctx: MutationContext): TensorProto[] => graphOf(ctx).initializer ?? [];
const nodes = (ctx: MutationContext): NodeProto[] => graphOf(ctx).node ?? [];
const externalTensors = (ctx: MutationContext) => initializers(ctx).filter((t) => t.data_location === DataLocation.EXTERNAL);

/** Text for a detail line: control characters escaped (as the CLI's messages escape them), long strings shortened. */
export function show(text: string, max = 60): string {
  const escaped = printable(text);
  return escaped.length > max ? `${escaped.slice(0, max - 20)}…(${text.length} chars)` : escaped;
}

const long = (value: number | string) => (typeof value === 'string' ? Long.fromString(value) : Long.fromNumber(value));
const num = (value: Int64 | undefined) => Number(value ?? 0);
const elementCount = (t: TensorProto) => (t.dims ?? []).reduce((n: number, d) => n * num(d), 1);

/** Replaces an entry of a repeated field (decoded repeated fields may be shared, frozen defaults). */
function replaced<T>(items: readonly T[] | undefined, index: number, value: T): T[] {
  const copy = [...(items ?? [])];
  copy[index] = value;
  return copy;
}

function entry(t: TensorProto, key: string): string | undefined {
  return t.external_data?.find((e) => e.key === key)?.value;
}

function setEntry(t: TensorProto, key: string, value: string | undefined): void {
  const others = (t.external_data ?? []).filter((e) => e.key !== key);
  t.external_data = value === undefined ? others : [...others, { key, value } as StringStringEntryProto];
}

/** Renames a value everywhere the main graph names it (node inputs and outputs, initializers, graph inputs and outputs). */
function renameValue(graph: GraphProto, from: string, to: string): void {
  const swap = (names: string[] | undefined) => (names ?? []).map((n) => (n === from ? to : n));
  for (const node of graph.node ?? []) {
    node.input = swap(node.input);
    node.output = swap(node.output);
  }
  for (const list of [graph.initializer, graph.input, graph.output, graph.value_info]) {
    for (const item of list ?? []) if (item.name === from) item.name = to;
  }
}

export function mkfifo(file: string): void {
  const result = spawnSync('mkfifo', [file]);
  if (result.status !== 0) throw new Error(`fuzz: mkfifo ${file} failed: ${result.stderr}`);
}

/** /dev/zero's (1,5) or /dev/full's (1,7) character device, made with mknod where allowed (root), else a symlink to it. */
export function charDevice(file: string, device: 'zero' | 'full' = 'zero'): string {
  const minor = device === 'zero' ? '5' : '7';
  if (process.getuid?.() === 0 && spawnSync('mknod', [file, 'c', '1', minor]).status === 0) return `mknod c 1 ${minor}`;
  fs.symlinkSync(`/dev/${device}`, file);
  return `symlink to /dev/${device} (mknod not permitted)`;
}

/** Removes whatever is at `file` so a trick can take its place. */
const clear = (file: string) => fs.rmSync(file, { recursive: true, force: true });

/** An initializer with its data in raw_data (the common form), if any. */
function rawTensor(ctx: MutationContext): TensorProto | undefined {
  const withRaw = initializers(ctx).filter((t) => (t.raw_data?.length ?? 0) > 0);
  return withRaw.length ? ctx.rng.pick(withRaw) : undefined;
}

function pickInitializer(ctx: MutationContext, filter: (t: TensorProto) => boolean = always): TensorProto {
  const candidates = initializers(ctx).filter(filter);
  return ctx.rng.pick(candidates.length ? candidates : initializers(ctx));
}

function pickNode(ctx: MutationContext, filter: (n: NodeProto) => boolean = always): NodeProto {
  const candidates = nodes(ctx).filter(filter);
  return ctx.rng.pick(candidates.length ? candidates : nodes(ctx));
}

/** Sets one dim of a tensor with at least one dim (or gives a scalar one) to one of `values`. */
function setDim(ctx: MutationContext, values: readonly (number | string)[]): string {
  const value = long(ctx.rng.pick(values));
  const t = pickInitializer(ctx, (x) => (x.dims?.length ?? 0) > 0);
  const axis = ctx.rng.int(Math.max(1, t.dims?.length ?? 0));
  t.dims = replaced(t.dims, axis, value);
  return `${show(t.name ?? '')} dims[${axis}] = ${value.toString()}`;
}

/** Moves a tensor's values into a typed field with too few or too many of them. */
function typedDataCount(ctx: MutationContext, field: 'float_data' | 'int32_data' | 'int64_data', type: DataType): string {
  const t = pickInitializer(ctx);
  const count = elementCount(t);
  const given = Math.max(0, ctx.rng.pick([count - 1, count + 1, 0, Math.floor(count / 2), count + 1000, count * 2]));
  delete t.raw_data;
  t.data_location = DataLocation.DEFAULT;
  t.external_data = [];
  t.data_type = type;
  const values = Array.from({ length: given }, (_, i) => (field === 'int64_data' ? Long.fromNumber(i % 3) : (i % 7) * 0.25));
  (t as Record<string, unknown>)[field] = values;
  return `${show(t.name ?? '')}: ${field} with ${given} values for ${count} elements`;
}

/** The marked nodes of one weight (all of them, or one), for editing their spec. */
function specTargets(ctx: MutationContext): { nodes: NodeProto[]; scope: string } {
  const marked = nodes(ctx).filter((n) => (n.doc_string ?? '').startsWith(MARKER));
  const weights = [...new Set(marked.map((n) => specOf(n).weight as string))];
  const weight = ctx.rng.pick(weights);
  const group = marked.filter((n) => specOf(n).weight === weight);
  if (ctx.rng.chance(0.3)) {
    const one = ctx.rng.pick(group);
    return { nodes: [one], scope: `node ${show(one.name ?? '')}` };
  }
  return { nodes: group, scope: `weight ${show(weight)}` };
}

function specOf(node: NodeProto): Record<string, unknown> {
  return JSON.parse((node.doc_string ?? '').slice(MARKER.length)) as Record<string, unknown>;
}

/** Rewrites the JSON spec of the target nodes; `edit` returns the new JSON text. */
function editSpec(ctx: MutationContext, edit: (spec: Record<string, unknown>) => string): string {
  const { nodes: targets, scope } = specTargets(ctx);
  let text = '';
  for (const node of targets) {
    text = edit(specOf(node));
    node.doc_string = MARKER + text;
  }
  return `${scope}: ${show(text)}`;
}

/** JSON of a spec with one field set to raw JSON text (which may be invalid JSON, e.g. NaN). */
function withRawField(spec: Record<string, unknown>, field: string, raw: string): string {
  return JSON.stringify({ ...spec, [field]: '@@RAW@@' }).replace('"@@RAW@@"', raw);
}

const CONTROL = ['\x1b[31m', '\n', '\r\n', '\u0000', '\t', '\u009b31m', '\u2028', '\x07'];
const LONG_NAME = 'w'.repeat(5000);

/** Names a value, node or graph input/output `name`, consistently or not. */
function rename(ctx: MutationContext, name: (old: string) => string): string {
  const graph = graphOf(ctx);
  const target = ctx.rng.pick(['initializer', 'node', 'graph input', 'graph output', 'initializer, uses left alone'] as const);
  if (target === 'node') {
    const node = pickNode(ctx);
    const old = node.name ?? '';
    node.name = name(old);
    return `node ${show(old)} -> ${show(node.name)}`;
  }
  const list = target === 'graph input' ? graph.input : target === 'graph output' ? graph.output : graph.initializer;
  const item = ctx.rng.pick(list?.length ? list : initializers(ctx));
  const old = item.name ?? '';
  const to = name(old);
  if (target === 'initializer, uses left alone') item.name = to;
  else renameValue(graph, old, to);
  return `${target} ${show(old)} -> ${show(to)}`;
}

/**
 * A GraphProto `node` field, written by hand (protobufjs encodes at most 100 levels): If nodes
 * whose then_branch holds the next one, `depth` deep. Appended to a graph's unknown fields, it
 * is encoded after the graph's own nodes and decoded as one more node.
 */
function nestedIfNode(depth: number): Uint8Array {
  const message = (fill: (w: protobuf.Writer) => void) => {
    const w = protobuf.Writer.create();
    fill(w);
    return w.finish();
  };
  const bytes = (w: protobuf.Writer, field: number, value: Uint8Array) => w.uint32((field << 3) | 2).bytes(value);
  const text = (w: protobuf.Writer, field: number, value: string) => w.uint32((field << 3) | 2).string(value);
  const graphOutputs = (name: string, output: string, w: protobuf.Writer) => {
    text(w, 2, name);
    bytes(w, 12, message((v) => text(v, 1, output)));
  };
  const branch = (name: string, g: Uint8Array) => message((w) => {
    text(w, 1, name);
    bytes(w, 6, g);
    w.uint32(20 << 3).uint32(AttributeType.GRAPH);
  });
  const elseGraph = message((w) => graphOutputs('else', 'fuzz_cond', w));
  let inner = message((w) => graphOutputs('leaf', 'fuzz_cond', w));
  let node: Uint8Array = new Uint8Array(0);
  for (let level = depth; level > 0; level--) {
    node = message((w) => {
      const fields = [[1, 'fuzz_cond'], [2, `fuzz_y${level}`], [3, `fuzz_if${level}`], [4, 'If']] as const;
      for (const [field, value] of fields) text(w, field, value);
      bytes(w, 5, branch('then_branch', inner));
      bytes(w, 5, branch('else_branch', elseGraph));
    });
    inner = message((w) => {
      bytes(w, 1, node);
      graphOutputs(`level${level}`, `fuzz_y${level}`, w);
    });
  }
  return message((w) => bytes(w, 1, node));
}

/** The external data file a tensor reads (its location, in the model's folder). */
function externalFile(ctx: MutationContext): { tensor: TensorProto; location: string; file: string } {
  const tensor = ctx.rng.pick(externalTensors(ctx));
  const location = entry(tensor, 'location') ?? '';
  return { tensor, location, file: path.join(ctx.dir, location) };
}

/** A copy of the external data file in the outside folder. */
function copyOutside(ctx: MutationContext, location: string): string {
  fs.mkdirSync(ctx.outside, { recursive: true });
  const copy = path.join(ctx.outside, path.basename(location));
  fs.copyFileSync(path.join(ctx.dir, location), copy);
  return copy;
}

/** Sets an external-data entry on one external tensor or on all of them. */
function setExternalEntry(ctx: MutationContext, key: string, value: (t: TensorProto) => string | undefined): string {
  const all = ctx.rng.chance(0.5);
  const targets = all ? externalTensors(ctx) : [ctx.rng.pick(externalTensors(ctx))];
  let last: string | undefined;
  for (const t of targets) {
    last = value(t);
    setEntry(t, key, last);
  }
  const which = all ? 'every external tensor' : show(targets[0].name ?? '');
  return `${which}: ${key} ${last === undefined ? 'removed' : `= ${show(last)}`}`;
}

function writeNpy(file: string, values: Float32Array | Float64Array | BigInt64Array | Int32Array, shape: number[]): void {
  fs.writeFileSync(file, Buffer.from(dump(values, shape)));
}

const sampleFile = (ctx: MutationContext) => ctx.rng.pick(ctx.command === 'train' ? [DATA_FILE, LABELS_FILE] : [DATA_FILE]);

function sampleShape(ctx: MutationContext): number[] {
  const header = fs.readFileSync(path.join(ctx.dir, DATA_FILE)).subarray(0, 128).toString('latin1');
  return (/\(([^)]*)\)/.exec(header)?.[1] ?? '8').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
}

// ---------------------------------------------------------------- the catalogue

export const MUTATIONS: readonly Mutation[] = [
  { name: 'none', group: 'none', applies: always, apply: () => 'the seed as it is' },

  // bytes
  {
    name: 'truncate', group: 'bytes', applies: always,
    apply: (ctx) => {
      const bytes = ctx.model.bytes;
      const at = ctx.rng.int(bytes.length);
      ctx.model.bytes = bytes.subarray(0, at);
      return `cut at byte ${at} of ${bytes.length}`;
    },
  },
  {
    name: 'byte-flips', group: 'bytes', applies: always,
    apply: (ctx) => {
      const bytes = Buffer.from(ctx.model.bytes);
      const flips = 1 + ctx.rng.int(16);
      for (let i = 0; i < flips; i++) bytes[ctx.rng.int(bytes.length)] ^= 1 + ctx.rng.int(255);
      ctx.model.bytes = bytes;
      return `${flips} bytes flipped`;
    },
  },

  {
    name: 'model-special-file', group: 'file', applies: always,
    apply: (ctx) => {
      const file = path.join(ctx.dir, MODEL_FILE);
      const kind = ctx.rng.pick(['FIFO', 'folder', 'device', 'empty', 'symlink loop', 'dangling symlink'] as const);
      clear(file);
      if (kind === 'FIFO') mkfifo(file);
      else if (kind === 'folder') fs.mkdirSync(file);
      else if (kind === 'empty') fs.writeFileSync(file, '');
      else if (kind === 'symlink loop') fs.symlinkSync(MODEL_FILE, file);
      else if (kind === 'dangling symlink') fs.symlinkSync('gone.onnx', file);
      else return `${MODEL_FILE} is a ${charDevice(file)}`;
      return `${MODEL_FILE} is a ${kind}`;
    },
  },

  // tensors
  { name: 'dims-huge', group: 'tensor', applies: always, apply: (ctx) => setDim(ctx, [2 ** 40, 2 ** 31, 2 ** 32 - 1, 2 ** 48]) },
  { name: 'dims-negative', group: 'tensor', applies: always, apply: (ctx) => setDim(ctx, [-1, -2, -(2 ** 31), -(2 ** 40)]) },
  {
    name: 'dims-unsafe', group: 'tensor', applies: always,
    apply: (ctx) => setDim(ctx, ['9007199254740992', '9007199254740993', '9223372036854775807', '-9223372036854775808']),
  },
  { name: 'dims-zero', group: 'tensor', applies: always, apply: (ctx) => setDim(ctx, [0]) },
  {
    name: 'dims-rank', group: 'tensor', applies: always,
    apply: (ctx) => {
      const t = pickInitializer(ctx);
      const before = (t.dims ?? []).map(String);
      t.dims = ctx.rng.chance(0.5) ? [...(t.dims ?? []), long(1)] : (t.dims ?? []).slice(1);
      return `${show(t.name ?? '')} dims [${before}] -> [${t.dims.map(String)}]`;
    },
  },
  { name: 'float-data-count', group: 'tensor', applies: always, apply: (ctx) => typedDataCount(ctx, 'float_data', DataType.FLOAT) },
  { name: 'int32-data-count', group: 'tensor', applies: always, apply: (ctx) => typedDataCount(ctx, 'int32_data', DataType.INT32) },
  { name: 'int64-data-count', group: 'tensor', applies: always, apply: (ctx) => typedDataCount(ctx, 'int64_data', DataType.INT64) },
  {
    name: 'raw-data-cut', group: 'tensor', applies: hasInline,
    apply: (ctx) => {
      const t = rawTensor(ctx)!;
      const length = t.raw_data!.length;
      const keep = ctx.rng.pick([0, length - 1, length - 4, Math.floor(length / 2), ctx.rng.int(length)]);
      t.raw_data = t.raw_data!.subarray(0, Math.max(0, keep));
      return `${show(t.name ?? '')} raw_data ${length} -> ${t.raw_data.length} bytes`;
    },
  },
  {
    name: 'raw-and-typed-data', group: 'tensor', applies: hasInline,
    apply: (ctx) => {
      const t = rawTensor(ctx)!;
      t.float_data = [1, 2, 3];
      return `${show(t.name ?? '')} has raw_data and 3 float_data values`;
    },
  },
  {
    name: 'data-type', group: 'tensor', applies: always,
    apply: (ctx) => {
      const t = pickInitializer(ctx);
      const type = ctx.rng.pick([0, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 21, 23, 26, 27, 99, -1, 2 ** 31 - 1]);
      const before = t.data_type;
      t.data_type = type;
      return `${show(t.name ?? '')} data_type ${before} -> ${type}`;
    },
  },
  {
    name: 'string-tensor', group: 'tensor', applies: always,
    apply: (ctx) => {
      const t = pickInitializer(ctx);
      delete t.raw_data;
      t.data_location = DataLocation.DEFAULT;
      t.external_data = [];
      t.data_type = DataType.STRING;
      t.string_data = Array.from({ length: Math.min(3, elementCount(t)) }, () => Buffer.from('\x1b[31mred\n'));
      return `${show(t.name ?? '')} as a STRING tensor`;
    },
  },

  // graph
  {
    name: 'cycle', group: 'graph', applies: always,
    apply: (ctx) => {
      const list = nodes(ctx);
      const i = ctx.rng.int(list.length);
      const j = ctx.rng.chance(0.3) ? i : i + ctx.rng.int(list.length - i);
      list[i].input = replaced(list[i].input, 0, list[j].output![0]);
      return `node ${show(list[i].name ?? '')} reads ${show(list[j].output![0])} of node ${show(list[j].name ?? '')}`;
    },
  },
  {
    name: 'dangling-input', group: 'graph', applies: always,
    apply: (ctx) => {
      const node = pickNode(ctx);
      const ghost = ctx.rng.pick(['no_such_tensor', '']);
      if (ctx.rng.chance(0.3)) node.input = [...(node.input ?? []), ghost];
      else node.input = replaced(node.input, ctx.rng.int(Math.max(1, node.input?.length ?? 0)), ghost);
      return `node ${show(node.name ?? '')} inputs [${(node.input ?? []).map((name) => show(name))}]`;
    },
  },
  {
    name: 'duplicate-node-name', group: 'graph', applies: always,
    apply: (ctx) => {
      const [a, b] = [pickNode(ctx), pickNode(ctx)];
      b.name = a.name;
      return `two nodes named ${show(a.name ?? '')}`;
    },
  },
  {
    name: 'duplicate-initializer', group: 'graph', applies: always,
    apply: (ctx) => {
      const t = pickInitializer(ctx);
      const dims = ctx.rng.pick([[3], [2, 2], [...(t.dims ?? []).map(num)].reverse(), []]);
      const count = dims.reduce((n, d) => n * d, 1);
      const twin = createTensorProto({ name: t.name, data_type: DataType.FLOAT, dims, raw_data: new Uint8Array(4 * count) });
      graphOf(ctx).initializer = [...initializers(ctx), twin];
      return `second initializer ${show(t.name ?? '')} with dims [${dims}]`;
    },
  },
  {
    name: 'duplicate-output', group: 'graph', applies: always,
    apply: (ctx) => {
      const node = pickNode(ctx);
      const graph = graphOf(ctx);
      const kind = ctx.rng.pick(['node output', 'initializer', 'graph input'] as const);
      const taken = kind === 'node output' ? pickNode(ctx).output?.[0]
        : kind === 'initializer' ? pickInitializer(ctx).name : graph.input?.[0]?.name;
      node.output = replaced(node.output, 0, taken ?? '');
      return `node ${show(node.name ?? '')} outputs ${show(taken ?? '')} (a ${kind})`;
    },
  },
  {
    name: 'remove-node', group: 'graph', applies: always,
    apply: (ctx) => {
      const list = nodes(ctx);
      const i = ctx.rng.int(list.length);
      graphOf(ctx).node = list.filter((_, k) => k !== i);
      return `node ${show(list[i].name ?? '')} (${list[i].op_type}) removed`;
    },
  },
  {
    name: 'unknown-op', group: 'graph', applies: always,
    apply: (ctx) => {
      const node = pickNode(ctx);
      if (ctx.rng.chance(0.3)) {
        node.domain = ctx.rng.pick(['com.evil', 'ai.onnx.ml', 'com.microsoft']);
        return `node ${show(node.name ?? '')} in domain ${node.domain}`;
      }
      const before = node.op_type;
      node.op_type = ctx.rng.pick(['Frobnicate', '', 'conv', 'Conv\u0000', 'LSTM', 'If']);
      return `node ${show(node.name ?? '')} op ${before} -> ${show(node.op_type)}`;
    },
  },
  {
    name: 'opset', group: 'graph', applies: always,
    apply: (ctx) => {
      const model = ctx.model.proto;
      const variant = ctx.rng.pick(['version', 'version', 'none', 'twice', 'custom domain'] as const);
      if (variant === 'none') model.opset_import = [];
      else if (variant === 'twice') model.opset_import = [{ domain: '', version: 17 }, { domain: '', version: 7 }];
      else if (variant === 'custom domain') model.opset_import = [...(model.opset_import ?? []), { domain: 'com.evil', version: 1 }];
      else {
        const version = ctx.rng.pick([0, 1, 5, 6, 7, 8, 9, 12, 13, 18, 22, 23, 24, 99, -1, 2 ** 40]);
        model.opset_import = [{ domain: '', version: long(version) }];
        return `opset ${version}`;
      }
      return `opset_import: ${variant}`;
    },
  },
  {
    name: 'ir-version', group: 'graph', applies: always,
    apply: (ctx) => {
      const version = ctx.rng.pick([0, 1, 3, 4, 11, 99, -1, 2 ** 40]);
      ctx.model.proto.ir_version = long(version);
      return `ir_version ${version}`;
    },
  },
  {
    name: 'graph-io', group: 'graph', applies: always,
    apply: (ctx) => {
      const graph = graphOf(ctx);
      const variant = ctx.rng.pick(['no outputs', 'no inputs', 'input type', 'input dim', 'output not produced'] as const);
      if (variant === 'no outputs') graph.output = [];
      else if (variant === 'no inputs') graph.input = [];
      else if (variant === 'output not produced') graph.output = [{ ...graph.output![0], name: 'never_made' }];
      else if (variant === 'input type') {
        const type = ctx.rng.pick([0, 7, 8, 99]);
        graph.input![0].type = { tensor_type: { elem_type: type, shape: graph.input![0].type?.tensor_type?.shape } };
        return `graph input elem_type ${type}`;
      } else {
        const value = ctx.rng.pick([-1, 0, 2 ** 40, '9223372036854775807']);
        const dims = graph.input![0].type?.tensor_type?.shape?.dim ?? [];
        const axis = ctx.rng.int(Math.max(1, dims.length));
        const shape = { dim: replaced(dims, axis, { dim_value: long(value) }) };
        graph.input![0].type = { tensor_type: { elem_type: graph.input![0].type?.tensor_type?.elem_type, shape } };
        return `graph input dim ${axis} = ${value}`;
      }
      return variant;
    },
  },
  {
    name: 'attribute', group: 'graph', applies: always,
    apply: (ctx) => {
      const node = pickNode(ctx, (n) => (n.attribute?.length ?? 0) > 0);
      const attributes = node.attribute ?? [];
      const variant = ctx.rng.pick(['ints', 'int', 'type', 'removed', 'duplicated', 'unknown'] as const);
      if (variant === 'removed' || attributes.length === 0) node.attribute = [];
      else if (variant === 'duplicated') node.attribute = [...attributes, attributes[0]];
      else if (variant === 'unknown') node.attribute = [...attributes, { name: 'frobnicate', type: 2, i: long(1) }];
      else {
        const i = ctx.rng.int(attributes.length);
        const a = { ...attributes[i] };
        if (variant === 'type') a.type = ctx.rng.pick([1, 3, 5, 99]);
        else if (variant === 'int') a.i = long(ctx.rng.pick([-5, 7, 99, 2 ** 40]));
        else a.ints = (a.ints?.length ? a.ints : [long(1)]).map(() => long(ctx.rng.pick([-1, 0, 2 ** 31, 2 ** 40])));
        node.attribute = replaced(attributes, i, a);
        return `node ${show(node.name ?? '')} attribute ${show(a.name ?? '')}: ${variant}`;
      }
      return `node ${show(node.name ?? '')} attributes ${variant}`;
    },
  },

  {
    name: 'subgraph-deep', group: 'graph', applies: always,
    apply: (ctx) => {
      // about 3 protobuf levels per If: 30 decodes, 40 and more pass protobufjs's limit of 100
      const depth = ctx.rng.pick([8, 30, 40, 200]);
      const cond = createTensorProto({ name: 'fuzz_cond', data_type: DataType.BOOL, dims: [], raw_data: Uint8Array.of(1) });
      const graph = graphOf(ctx);
      graph.initializer = [...initializers(ctx), cond];
      graph.$unknowns = [...(graph.$unknowns ?? []), nestedIfNode(depth)];
      return `If nodes nested ${depth} deep`;
    },
  },
  {
    name: 'many-nodes', group: 'graph', applies: always,
    apply: (ctx) => {
      // ONNX Runtime alone takes seconds per 10,000 nodes: shorter chains where a session is made
      const count = ctx.rng.pick(needsData(ctx.seed, ctx.command) ? [500, 2000] : [10000, 50000]);
      const graph = graphOf(ctx);
      const from = graph.output?.[0]?.name ?? '';
      const producer = nodes(ctx).find((n) => from && n.output?.includes(from));
      if (!producer) return 'no node makes the first output: left alone';
      producer.output = producer.output!.map((o) => (o === from ? 'fuzz_chain0' : o));
      const chain = Array.from({ length: count }, (_, i): NodeProto => ({
        name: `fuzz_id${i}`, op_type: 'Identity', input: [`fuzz_chain${i}`], output: [i === count - 1 ? from : `fuzz_chain${i + 1}`],
      }));
      graph.node = [...nodes(ctx), ...chain];
      return `a chain of ${count} Identity nodes before the output`;
    },
  },

  // weight-norm marker specs (the doc_string JSON convert writes on the nodes it inserts)
  {
    name: 'spec-view', group: 'spec', applies: isWeightNormalized,
    apply: (ctx) => editSpec(ctx, (spec) => {
      const view = spec.view as number[];
      const views = [[16, 1, 1.5, 6], [], [2 ** 40, 1], [-view[0], ...view.slice(1)], [0, ...view.slice(1)], view.slice(1),
        view.map((d) => d * 2), ['16'], null];
      return JSON.stringify({ ...spec, view: ctx.rng.pick(views) });
    }),
  },
  {
    name: 'spec-keep', group: 'spec', applies: isWeightNormalized,
    apply: (ctx) => editSpec(ctx, (spec) => {
      const rank = (spec.view as number[]).length;
      const keeps = [[7], [-1], [0, 0], [0.5], [], [...Array(rank).keys()], [2 ** 53], [rank], null, 'all'];
      return JSON.stringify({ ...spec, keep: ctx.rng.pick(keeps) });
    }),
  },
  {
    name: 'spec-eps', group: 'spec', applies: isWeightNormalized,
    apply: (ctx) => editSpec(ctx, (spec) =>
      withRawField(spec, 'eps', ctx.rng.pick(['NaN', '1e400', '-1e400', '-1', '0', 'null', '"1e-12"', '1e-320', '1e300']))),
  },
  {
    name: 'spec-missing-tensor', group: 'spec', applies: isWeightNormalized,
    apply: (ctx) => editSpec(ctx, (spec) => {
      const field = ctx.rng.pick(['g', 'v', 'weight', 'plain']);
      const swapped = field === 'g' ? spec.v : spec.g;
      const other = ctx.rng.pick(['no_such_tensor', '', 'input', 'relu1', '\x1b[31m', swapped]);
      return JSON.stringify({ ...spec, [field]: other });
    }),
  },
  {
    name: 'spec-damaged', group: 'spec', applies: always,
    apply: (ctx) => {
      const marked = nodes(ctx).some((n) => (n.doc_string ?? '').startsWith(MARKER));
      if (!marked || ctx.rng.chance(0.25)) {
        const node = pickNode(ctx, (n) => ['Conv', 'Gemm', 'MatMul', 'LSTM'].includes(n.op_type ?? ''));
        const weight = node.input?.[1] ?? '';
        const spec = { weight, g: weight, v: weight, view: [4, 4], keep: [0], eps: 1e-12 };
        node.doc_string = MARKER + JSON.stringify(spec);
        return `marker on the plain node ${show(node.name ?? '')}`;
      }
      return editSpec(ctx, (spec) => {
        const text = JSON.stringify(spec);
        return ctx.rng.pick([text.slice(0, ctx.rng.int(text.length)), '[]', 'null', '{}', '"x"', '',
          JSON.stringify({ ...spec, form: 'bogus' }), JSON.stringify({ ...spec, form: 'pytorch', plain: 123 }),
          JSON.stringify({ ...spec, weight: 7 })]);
      });
    },
  },

  // names
  { name: 'name-control', group: 'name', applies: always, apply: (ctx) => rename(ctx, (old) => `${old}${ctx.rng.pick(CONTROL)}x`) },
  { name: 'name-long', group: 'name', applies: always, apply: (ctx) => rename(ctx, () => LONG_NAME) },
  { name: 'name-empty', group: 'name', applies: always, apply: (ctx) => rename(ctx, () => '') },

  // external data
  {
    name: 'ext-absolute', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      const target = ctx.rng.pick([file, copyOutside(ctx, location), '/etc/hostname', '/dev/zero']);
      return setExternalEntry(ctx, 'location', () => target);
    },
  },
  {
    name: 'ext-dotdot', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location } = externalFile(ctx);
      copyOutside(ctx, location);
      fs.mkdirSync(path.join(ctx.dir, 'sub'), { recursive: true });
      const name = path.basename(location);
      const target = ctx.rng.pick([`../${path.basename(ctx.outside)}/${name}`, `sub/../${location}`, `..\\${name}`]);
      return setExternalEntry(ctx, 'location', () => target);
    },
  },
  {
    name: 'ext-symlink-out', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      const copy = copyOutside(ctx, location);
      clear(file);
      const target = ctx.rng.chance(0.5) ? copy : path.relative(path.dirname(file), copy);
      fs.symlinkSync(target, file);
      return `${show(location)} is a symlink to ${show(target)}`;
    },
  },
  {
    name: 'ext-long-location', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const location = ctx.rng.chance(0.5) ? 'l'.repeat(5000) : Array(1000).fill('dir').join('/');
      return setExternalEntry(ctx, 'location', () => location);
    },
  },
  {
    name: 'ext-offset', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const size = fs.statSync(externalFile(ctx).file).size;
      const value = ctx.rng.pick([String(size + 1000), String(size), '-1', '9007199254740993', 'abc', '', '1e3', '0x10', ' 12', '1.5']);
      return setExternalEntry(ctx, 'offset', () => value);
    },
  },
  {
    name: 'ext-length', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const size = fs.statSync(externalFile(ctx).file).size;
      const value = ctx.rng.pick([String(size * 2), '-1', '9007199254740993', 'abc', '', '0', undefined, '1.5']);
      return setExternalEntry(ctx, 'length', () => value);
    },
  },
  {
    name: 'ext-fifo', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      clear(file);
      mkfifo(file);
      return `${show(location)} is a FIFO`;
    },
  },
  {
    name: 'ext-folder', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      if (ctx.rng.chance(0.3)) return setExternalEntry(ctx, 'location', () => '.');
      clear(file);
      fs.mkdirSync(file);
      return `${show(location)} is a folder`;
    },
  },
  {
    name: 'ext-char-device', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      clear(file);
      const made = ctx.rng.chance(0.5) ? (fs.symlinkSync('/dev/zero', file), 'symlink to /dev/zero') : charDevice(file);
      const endless = ctx.rng.chance(0.5);
      if (endless) for (const t of externalTensors(ctx)) setEntry(t, 'length', undefined);
      return `${show(location)} is a ${made}${endless ? ', no lengths' : ''}`;
    },
  },
  { name: 'ext-self', group: 'external', applies: hasExternal, apply: (ctx) => setExternalEntry(ctx, 'location', () => MODEL_FILE) },
  {
    name: 'ext-missing', group: 'external', applies: always,
    apply: (ctx) => {
      if (!hasExternal(ctx.seed)) {
        const t = rawTensor(ctx) ?? pickInitializer(ctx);
        delete t.raw_data;
        t.data_location = DataLocation.EXTERNAL;
        t.external_data = [{ key: 'location', value: 'missing.data' }];
        return `${show(t.name ?? '')} moved to the missing file missing.data`;
      }
      return setExternalEntry(ctx, 'location', () => 'missing.data');
    },
  },
  {
    name: 'ext-no-location', group: 'external', applies: hasExternal,
    apply: (ctx) => setExternalEntry(ctx, 'location', () => ctx.rng.pick([undefined, ''])),
  },
  {
    name: 'ext-entries', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const t = ctx.rng.pick(externalTensors(ctx));
      const variant = ctx.rng.pick(['two locations', 'unknown key', 'control key'] as const);
      const extra = variant === 'two locations' ? { key: 'location', value: 'other.data' }
        : variant === 'unknown key' ? { key: 'checksum', value: 'abc' } : { key: 'loc\nation', value: '\x1b[31m' };
      t.external_data = [...(t.external_data ?? []), extra as StringStringEntryProto];
      return `${show(t.name ?? '')}: ${variant}`;
    },
  },
  {
    name: 'ext-data-truncate', group: 'external', applies: hasExternal,
    apply: (ctx) => {
      const { location, file } = externalFile(ctx);
      const size = fs.statSync(file).size;
      const at = ctx.rng.int(size);
      fs.truncateSync(file, at);
      return `${show(location)} cut at byte ${at} of ${size}`;
    },
  },

  // sample data (init, train)
  {
    name: 'data-truncate', group: 'data', applies: needsData,
    apply: (ctx) => {
      const name = sampleFile(ctx);
      const file = path.join(ctx.dir, name);
      const size = fs.statSync(file).size;
      const at = ctx.rng.int(size);
      fs.truncateSync(file, at);
      return `${name} cut at byte ${at} of ${size}`;
    },
  },
  {
    name: 'data-flips', group: 'data', applies: needsData,
    apply: (ctx) => {
      const name = sampleFile(ctx);
      const file = path.join(ctx.dir, name);
      const bytes = fs.readFileSync(file);
      const inHeader = ctx.rng.chance(0.7);
      const flips = 1 + ctx.rng.int(8);
      for (let i = 0; i < flips; i++) bytes[ctx.rng.int(inHeader ? Math.min(128, bytes.length) : bytes.length)] ^= 1 + ctx.rng.int(255);
      fs.writeFileSync(file, bytes);
      return `${name}: ${flips} bytes flipped${inHeader ? ' in the header' : ''}`;
    },
  },
  {
    name: 'data-special-file', group: 'data', applies: needsData,
    apply: (ctx) => {
      const name = sampleFile(ctx);
      const file = path.join(ctx.dir, name);
      clear(file);
      const kind = ctx.rng.pick(['FIFO', 'device', 'folder'] as const);
      if (kind === 'FIFO') mkfifo(file);
      else if (kind === 'folder') fs.mkdirSync(file);
      else return `${name} is a ${charDevice(file)}`;
      return `${name} is a ${kind}`;
    },
  },
  {
    name: 'data-shape', group: 'data', applies: needsData,
    apply: (ctx) => {
      const shape = sampleShape(ctx);
      const rest = shape.slice(1);
      const variant = ctx.rng.pick(['wrong', 'zero rows', 'one row', 'huge claim', 'scalar'] as const);
      const file = path.join(ctx.dir, DATA_FILE);
      const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
      if (variant === 'huge claim') writeNpy(file, new Float32Array(16), [2 ** 40, ...rest]);
      else {
        const made = variant === 'wrong' ? [8, 3] : variant === 'zero rows' ? [0, ...rest] : variant === 'one row' ? [1, ...rest] : [];
        writeNpy(file, new Float32Array(count(made)).fill(0.5), made);
        return `${DATA_FILE} shape [${made}]`;
      }
      return `${DATA_FILE} header claims [${[2 ** 40, ...rest]}] over 16 values`;
    },
  },
  {
    name: 'data-values', group: 'data', applies: needsData,
    apply: (ctx) => {
      const shape = sampleShape(ctx);
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.25);
      const bad = ctx.rng.pick([NaN, Infinity, -Infinity, 3.4e38]);
      values[ctx.rng.int(values.length)] = bad;
      writeNpy(path.join(ctx.dir, DATA_FILE), ctx.rng.chance(0.3) ? Float64Array.from(values) : values, shape);
      return `${DATA_FILE} holds ${bad}`;
    },
  },
  {
    name: 'labels-bad', group: 'data', applies: (_seed, command) => command === 'train',
    apply: (ctx) => {
      const file = path.join(ctx.dir, LABELS_FILE);
      const variant = ctx.rng.pick(['out of range', 'negative', 'float', 'too few', 'two columns', 'int64 max'] as const);
      if (variant === 'float') writeNpy(file, new Float32Array(8).fill(1.5), [8]);
      else if (variant === 'too few') writeNpy(file, new BigInt64Array(3), [3]);
      else if (variant === 'two columns') writeNpy(file, new BigInt64Array(16), [8, 2]);
      else {
        const value = variant === 'out of range' ? 99n : variant === 'negative' ? -1n : 2n ** 63n - 1n;
        writeNpy(file, new BigInt64Array(8).fill(value), [8]);
      }
      return `${LABELS_FILE}: ${variant}`;
    },
  },
];

export const MUTATION_BY_NAME = new Map(MUTATIONS.map((m) => [m.name, m]));
