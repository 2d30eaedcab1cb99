/** Running a model in onnxruntime-node on given feeds, and comparing its outputs with reference arrays. */
import * as assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-common';
import { loadModel } from '../../src/ir/model';
import { withSession } from '../../src/runtime/session';
import { nodeRuntime } from '../../src/node/runtime';
import { halfToFloat } from '../../src/tensor/dtype';
import { compareValues, type Tolerance } from '../../src/tensor/compare';
import type { NdArray } from './npy';

export type { Tolerance };

export const runtime = nodeRuntime();

/** Runs serialized model bytes once; outputs in the session's output order. */
export function runBytes(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<{ names: readonly string[]; outputs: ort.Tensor[] }> {
  return withSession(runtime, loadModel(bytes), {}, async (session) => {
    const results = await session.run(feeds);
    return { names: session.outputNames, outputs: session.outputNames.map((n) => results[n]) };
  });
}

/** An output tensor's values as numbers (float16 outputs come back as raw bits). */
export function tensorValues(t: ort.Tensor): ArrayLike<number> {
  if (t.type === 'float16') {
    const data = t.data as ArrayLike<number>;
    // onnxruntime-node hands float16 back as Uint16Array bits where Float16Array is missing
    if (data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
    return data;
  }
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** Asserts shape equality and allclose; the message names the output and the worst element. */
export function assertOutputClose(label: string, actual: ort.Tensor, expected: NdArray, tolerance: Tolerance): void {
  assert.deepEqual([...actual.dims], expected.shape, `${label}: output shape [${actual.dims}] differs from the reference [${expected.shape}]`);
  const values = tensorValues(actual);
  const c = compareValues(values, expected.data, tolerance);
  assert.ok(c.bad === 0,
    `${label}: ${c.bad} of ${expected.data.length} elements differ beyond rtol ${tolerance.rtol} / atol ${tolerance.atol}`
    + ` (max abs ${c.maxAbs.toExponential(2)}, max rel ${c.maxRel.toExponential(2)};`
    + ` worst at ${c.worst}: got ${values[c.worst]}, expected ${Number(expected.data[c.worst])})`);
}

/** Runs the model and compares every output, matched by position, with the references. */
export async function assertModelMatches(label: string, bytes: Uint8Array, feeds: Record<string, ort.Tensor>, expected: NdArray[], tolerance: Tolerance): Promise<void> {
  const { names, outputs } = await runBytes(bytes, feeds);
  assert.equal(outputs.length, expected.length, `${label}: the model has ${outputs.length} outputs, the reference ${expected.length}`);
  outputs.forEach((out, i) => assertOutputClose(`${label}, output ${i} "${names[i]}"`, out, expected[i], tolerance));
}

/** Runs two models on the same feeds and compares their outputs (b against a as the reference). */
export async function assertModelsAgree(label: string, a: Uint8Array, b: Uint8Array, feeds: Record<string, ort.Tensor>, tolerance: Tolerance): Promise<void> {
  const reference = await runBytes(a, feeds);
  const expected = reference.outputs.map((t) => ({ data: tensorValues(t), shape: [...t.dims], dtype: t.type }));
  await assertModelMatches(label, b, feeds, expected, tolerance);
}
