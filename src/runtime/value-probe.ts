/**
 * Learns the element type and shape of every value in a model by running it: a copy whose
 * outputs are all node outputs, fed one or more batches. Run at two batch sizes, the dims that
 * change are the batch-dependent ones (null in the result). Gradient rules need these facts.
 */
import type * as ort from 'onnxruntime-common';
import { Model } from '../ir/model';
import { declaredValueTypes, mergeObservations, type ValueType } from '../ir/value-types';
import type { DataType } from '../onnx/enums';
import { withSession } from './session';
import { dataTypeOf, type ExecutionProvider, type Runtime } from './ort';

type Observation = Map<string, { type: DataType; dims: number[] }>;

export async function probeValueTypes(
  runtime: Runtime, model: Model, batches: readonly Record<string, ort.Tensor>[], ep: ExecutionProvider = 'cpu',
): Promise<Map<string, ValueType>> {
  const g = model.graph;
  const names = [...new Set(g.nodes.flatMap((n) => n.output ?? []).filter(Boolean))];
  const probe = new Model({ ...model.proto, graph: { ...g.proto, output: names.map((name) => ({ name })) } });
  const observations = await withSession(runtime, probe, { ep, largeInitializers: 'inputs' }, async (session) => {
    const seen: Observation[] = [];
    for (const feeds of batches) {
      const outputs = await session.run(feeds);
      const observed: Observation = new Map();
      for (const [name, t] of [...Object.entries(feeds), ...Object.entries(outputs)]) {
        observed.set(name, { type: dataTypeOf(t.type), dims: [...t.dims] });
      }
      seen.push(observed);
    }
    return seen;
  });
  const types = mergeObservations(observations);
  for (const [name, t] of declaredValueTypes(model)) if (!types.has(name)) types.set(name, t);
  return types;
}
