/** Shared test tools: seeded tensors, running models in ONNX Runtime, comparisons. */
import * as assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import type { TensorProto } from '../src/onnx/proto';
import { loadModel, saveModel, type Model } from '../src/ir/model';
import { inputSpecs } from '../src/ir/inputs';
import { seededRandom } from '../src/tensor/random';
import { compareValues } from '../src/tensor/compare';
import { elementCount, floatTensor, readFloats } from '../src/tensor/values';
import { randomFeeds } from '../src/runtime/tensors';
import { runModel } from '../src/runtime/session';
import type { ExecutionProvider } from '../src/runtime/ort';
import { nodeRuntime } from '../src/node/runtime';

export const runtime = nodeRuntime();

export function randomTensor(name: string, dims: number[], seed: number, type = DataType.FLOAT, scale = 0.5): TensorProto {
  const random = seededRandom(seed);
  return floatTensor(name, type, dims, Float64Array.from({ length: elementCount(dims) }, () => (random() * 2 - 1) * scale));
}

/** A deep copy through bytes: what a file round trip gives. */
export function copyModel(model: Model): Model {
  return loadModel(saveModel(model));
}

export function run(model: Model, feeds: Record<string, ort.Tensor>, ep: ExecutionProvider = 'cpu'): Promise<Record<string, ort.Tensor>> {
  return runModel(runtime, model, feeds, { ep });
}

export function feedsFor(model: Model, seed = 1, dims: Record<string, number> = {}): Record<string, ort.Tensor> {
  return randomFeeds(runtime, inputSpecs(model), seed, dims);
}

/** |a - b| <= atol + rtol·|b| elementwise, with the worst element in the message. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-5, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const c = compareValues(actual, expected, { rtol, atol });
  if (!c.close) assert.fail(`${what}[${c.worst}]: ${actual[c.worst]} vs expected ${expected[c.worst]} (${c.bad} outside rtol ${rtol}, atol ${atol})`);
}

export async function assertSameOutputs(a: Model, b: Model, feeds: Record<string, ort.Tensor>, rtol = 1e-4, atol = 1e-5, ep: ExecutionProvider = 'cpu'): Promise<void> {
  const [x, y] = [await run(a, feeds, ep), await run(b, feeds, ep)];
  assert.deepEqual(Object.keys(y).sort(), Object.keys(x).sort());
  for (const name of Object.keys(x)) assertClose(y[name].data as Float32Array, x[name].data as Float32Array, rtol, atol, `output ${name}`);
}

export function opTypes(model: Model): string[] {
  return model.graph.nodes.map((n) => n.op_type ?? '');
}

export function initializerValues(model: Model, name: string): Float32Array | Float64Array {
  const t = model.graph.initializer(name);
  assert.ok(t, `initializer ${name} exists`);
  return readFloats(t);
}
