/**
 * The check every real model goes through:
 *   1. the model as given matches its reference outputs;
 *   2. convert rewrites the expected weights (and skips exactly the expected layers), the
 *      weight-normalized model still matches, each g scales the output feature it should
 *      (features.ts), and a second convert finds everything already weight-normalized;
 *   3. fold, both on the converted model re-read from its bytes (as a user would) and in memory,
 *      gives back exactly the original graph (op types, node wiring, initializer names and order,
 *      graph inputs and outputs) with the original weight values, and it matches again.
 */
import * as assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-common';
import { convert, fold, loadModel, saveModel, type ConvertReport } from '../../src/index';
import type { Model } from '../../src/ir/model';
import type { TensorProto } from '../../src/onnx/proto';
import { DataType, FLOAT_TYPES } from '../../src/onnx/enums';
import { readFloats, readInts, tensorDims } from '../../src/tensor/values';
import { nodeSpec } from '../../src/wn/spec';
import { intsAttribute } from '../../src/ir/attributes';
import type { NdArray } from './npy';
import { assertModelMatches, assertModelsAgree, type Tolerance } from './ort';
import { scaleGains, scaleWeightFeatures } from './features';

export interface ExpectedSkip {
  /** How many layer inputs are skipped for this reason. */
  count: number;
  reason: RegExp;
}

export interface Dataset {
  feeds: Record<string, ort.Tensor>;
  /** Reference outputs, in graph output order. */
  expected: NdArray[];
}

export interface RoundTripCase {
  model: Model;
  /** Every model run is checked on each of these. */
  data: Dataset[];
  tolerance: Tolerance;
  /** Number of weights convert must rewrite. */
  converted: number;
  /** Layers per op type reading a converted weight, e.g. { LSTM: 4, MatMul: 1 }. */
  layers?: Record<string, number>;
  /** Skipped layer inputs (all of them: an unexpected skip fails). */
  skipped?: ExpectedSkip[];
  /** Largest elementwise relative difference allowed between a folded and an original weight. */
  weightRtol?: number;
  /**
   * Rewrites model bytes into an equivalent model ONNX Runtime can run (applied only to what is
   * run, never to what convert and fold see); e.g. batch-first LSTMs, see rnn-layout.ts.
   */
  runnable?: (bytes: Uint8Array) => Uint8Array;
  /** Called with the converted model (extra checks, e.g. saving it with external data). */
  afterConvert?: (model: Model, report: ConvertReport) => Promise<void> | void;
}

interface TensorSnapshot { type: number; dims: number[]; values: ArrayLike<number> | Uint8Array }

interface Snapshot {
  nodes: string[];
  ops: string[];
  initializers: Map<string, TensorSnapshot>;
  initializerOrder: string[];
  inputs: string[];
  outputs: string[];
}

function tensorSnapshot(t: TensorProto): TensorSnapshot {
  const type = t.data_type ?? 0;
  let values: ArrayLike<number> | Uint8Array;
  if (FLOAT_TYPES.has(type)) values = Float64Array.from(readFloats(t));
  else if (type === DataType.INT64 || type === DataType.INT32) values = readInts(t);
  else values = Uint8Array.from(t.raw_data ?? []);
  return { type, dims: tensorDims(t), values };
}

function snapshot(model: Model): Snapshot {
  const g = model.graph;
  return {
    nodes: g.nodes.map((n) => `${n.op_type}(${(n.input ?? []).join(', ')}) -> ${(n.output ?? []).join(', ')}`),
    ops: g.nodes.map((n) => n.op_type ?? ''),
    initializers: new Map(g.initializers.map((t) => [t.name ?? '', tensorSnapshot(t)])),
    initializerOrder: g.initializers.map((t) => t.name ?? ''),
    inputs: g.inputs.map((i) => i.name ?? ''),
    outputs: g.outputs.map((o) => o.name ?? ''),
  };
}

function countBy(items: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

function maxRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): { rel: number; at: number } {
  let rel = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d === 0) continue;
    const r = d / Math.max(Math.abs(a[i]), 1e-30);
    if (!(r <= rel)) { rel = r; at = i; }
  }
  return { rel, at };
}

/** What convert inserted follows the model's opset: ReduceL2 axes as attribute or input, Max or Clip floor. */
function checkInsertedNodes(model: Model, opset: number): void {
  const inserted = model.graph.nodes.filter((n) => nodeSpec(n));
  for (const node of inserted) {
    if (node.op_type === 'ReduceL2') {
      if (opset >= 18) {
        assert.equal(node.input?.length, 2, `opset ${opset}: ReduceL2 "${node.name}" must take axes as its second input`);
        assert.equal(intsAttribute(node, 'axes'), undefined, `opset ${opset}: ReduceL2 "${node.name}" must not have an axes attribute`);
      } else {
        assert.equal(node.input?.length, 1, `opset ${opset}: ReduceL2 "${node.name}" takes one input`);
        assert.ok(intsAttribute(node, 'axes'), `opset ${opset}: ReduceL2 "${node.name}" needs its axes attribute`);
      }
    }
  }
  const ops = new Set(inserted.map((n) => n.op_type));
  if (opset >= 8) assert.ok(!ops.has('Clip'), `opset ${opset}: the norm floor should be Max, found Clip`);
  else assert.ok(!ops.has('Max'), `opset ${opset}: Max does not broadcast before opset 8, the floor must be Clip`);
}

async function assertMatchesAll(label: string, bytes: Uint8Array, data: Dataset[], tolerance: Tolerance, runnable?: (bytes: Uint8Array) => Uint8Array): Promise<void> {
  assert.ok(data.length > 0, 'no reference data');
  if (runnable) bytes = runnable(bytes);
  for (const [i, { feeds, expected }] of data.entries()) {
    await assertModelMatches(data.length > 1 ? `${label}, data set ${i}` : label, bytes, feeds, expected, tolerance);
  }
}

export async function checkRoundTrip(c: RoundTripCase): Promise<void> {
  const { model, data, tolerance } = c;
  const weightRtol = c.weightRtol ?? 1e-6;
  const before = snapshot(model);
  const opset = model.opset();

  // 1. the model as given
  const originalBytes = saveModel(model);
  await assertMatchesAll('original model', originalBytes, data, tolerance, c.runnable);

  // 2. convert
  const { report } = convert(model);
  const skipped = report.skipped.map((s) => `${s.op} "${s.node}" input "${s.input}": ${s.reason}`);
  assert.equal(report.converted.length, c.converted,
    `convert rewrote ${report.converted.length} weights (${report.converted.map((w) => w.weight).join(', ')}), expected ${c.converted}; skipped: ${skipped.join('; ') || 'none'}`);
  if (c.layers) assert.deepEqual(countBy(report.converted.flatMap((w) => w.layers.map((l) => l.op))), c.layers, 'layers reading converted weights, by op type');
  const expectedSkips = c.skipped ?? [];
  assert.equal(report.skipped.length, expectedSkips.reduce((n, s) => n + s.count, 0), `skipped layer inputs: ${skipped.join('; ') || 'none'}`);
  for (const s of expectedSkips) {
    const matching = report.skipped.filter((k) => s.reason.test(k.reason));
    assert.equal(matching.length, s.count, `skips matching ${s.reason}: ${skipped.join('; ')}`);
  }
  for (const w of report.converted) {
    assert.ok(!model.graph.initializer(w.weight), `converted weight "${w.weight}" is still an initializer`);
    assert.ok(model.graph.initializer(w.g) && model.graph.initializer(w.v), `g "${w.g}" / v "${w.v}" of "${w.weight}" are not initializers`);
    assert.ok(model.graph.producer(w.weight), `nothing computes "${w.weight}" after convert`);
  }
  checkInsertedNodes(model, opset);
  await c.afterConvert?.(model, report);
  const convertedBytes = saveModel(model);
  await assertMatchesAll('converted model', convertedBytes, data, tolerance, c.runnable);

  // 2b. g[f] scales output feature f of the layer (copies: the models are views of these bytes)
  const run = c.runnable ?? ((bytes: Uint8Array) => bytes);
  const scaledReference = saveModel(scaleWeightFeatures(loadModel(originalBytes.slice()), report));
  const scaledGains = saveModel(scaleGains(loadModel(convertedBytes.slice()), report, loadModel(originalBytes.slice())));
  for (const { feeds } of data) {
    await assertModelsAgree('converted model with one gain per weight scaled, vs the original with that output feature scaled',
      run(scaledReference), run(scaledGains), feeds, tolerance);
  }

  // 2c. converting again changes nothing: every converted layer is already weight-normalized
  const again = loadModel(convertedBytes.slice());
  const { report: againReport } = convert(again);
  assert.equal(againReport.converted.length, 0, 'a second convert rewrites nothing');
  const layerCount = report.converted.reduce((n, w) => n + w.layers.length, 0);
  assert.equal(againReport.skipped.filter((k) => k.reason === 'already weight-normalized').length, layerCount,
    `a second convert skips every converted layer as already weight-normalized: ${againReport.skipped.map((k) => k.reason).join('; ')}`);

  // 3. fold, from the converted model as saved, and in memory right after convert
  for (const [label, folded] of [['folded model (re-read)', loadModel(convertedBytes)], ['folded model (in memory)', model]] as const) {
    const { report: foldReport } = fold(folded);
    assert.deepEqual(foldReport.folded.map((f) => f.weight).sort(), report.converted.map((w) => w.weight).sort(), `${label}: folded weights`);
    checkFolded(label, before, snapshot(folded), new Set(report.converted.map((w) => w.weight)), weightRtol);
    await assertMatchesAll(label, saveModel(folded), data, tolerance, c.runnable);
  }
}

function checkFolded(label: string, before: Snapshot, after: Snapshot, convertedNames: Set<string>, weightRtol: number): void {
  assert.deepEqual(after.ops, before.ops, `${label}: op types (in order)`);
  assert.deepEqual(after.nodes, before.nodes, `${label}: nodes (inputs and outputs)`);
  assert.deepEqual(after.initializerOrder, before.initializerOrder, `${label}: initializers (names, in order)`);
  assert.deepEqual(after.inputs, before.inputs, `${label}: graph inputs`);
  assert.deepEqual(after.outputs, before.outputs, `${label}: graph outputs`);
  for (const [name, original] of before.initializers) {
    const now = after.initializers.get(name)!;
    assert.equal(now.type, original.type, `${label}: initializer "${name}": data type`);
    assert.deepEqual(now.dims, original.dims, `${label}: initializer "${name}": dims`);
    if (convertedNames.has(name)) {
      const { rel, at } = maxRelativeDifference(original.values as ArrayLike<number>, now.values as ArrayLike<number>);
      assert.ok(rel <= weightRtol, `${label}: folded weight "${name}": max relative difference ${rel.toExponential(2)} at ${at} (${original.values[at]} -> ${now.values[at]}), allowed ${weightRtol}`);
    } else {
      assert.deepEqual(Array.from(now.values), Array.from(original.values), `${label}: untouched initializer "${name}" changed`);
    }
  }
}
