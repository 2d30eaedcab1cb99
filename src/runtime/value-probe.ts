/**
 * Learns the element type and shape of every value in a model by running it: a copy whose
 * outputs are all node outputs, fed one or more batches. Run at two batch sizes, the dims that
 * change are the batch-dependent ones (null in the result). Gradient rules need these facts.
 */
import type * as ort from 'onnxruntime-common';
import type { Model } from '../ir/model';
import type { ModelProto } from '../onnx/proto';
import { encodeModel } from '../onnx/codec';
import { declaredValueTypes, mergeObservations, type ValueType } from '../autodiff/value-types';
import { DataType } from '../onnx/enums';
import { createSession, runSession, type ExecutionProvider, type Runtime } from './session';
import { dataTypeOf } from './feeds';

export async function probeValueTypes(
  runtime: Runtime, model: Model, batches: readonly Record<string, ort.Tensor>[], ep: ExecutionProvider = 'cpu',
): Promise<Map<string, ValueType>> {
  const g = model.graph;
  const declared = declaredValueTypes(model);
  const names = [...new Set(g.nodes.flatMap((n) => n.output ?? []).filter(Boolean))];
  const proto: ModelProto = { ...model.proto, graph: { ...g.proto, output: names.map((name) => ({ name })) } };
  const session = await createSession(runtime, encodeModel(proto), ep);
  const observations: Map<string, { type: DataType; dims: number[] }>[] = [];
  try {
    for (const feeds of batches) {
      const outputs = await runSession(session, feeds);
      const seen = new Map<string, { type: DataType; dims: number[] }>();
      for (const [name, t] of Object.entries(feeds)) seen.set(name, { type: dataTypeOf(t.type), dims: [...t.dims] });
      for (const [name, t] of Object.entries(outputs)) seen.set(name, { type: dataTypeOf(t.type), dims: [...t.dims] });
      observations.push(seen);
    }
  } finally {
    await session.release();
  }
  const types = mergeObservations(observations);
  for (const [name, t] of declared) if (!types.has(name)) types.set(name, t);
  return types;
}
