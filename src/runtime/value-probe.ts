/**
 * Learns the element type and shape of every value in a model by running it: a copy whose
 * outputs are all node outputs, fed one or more batches. Run at two batch sizes, the dims that
 * change are the batch-dependent ones (null in the result). Gradient rules need these facts.
 */
import type * as ort from 'onnxruntime-common';
import { Model } from '../ir/model';
import { inputSpecs } from '../ir/inputs';
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

/** Tensor data that can be sliced by rows (every type but string). */
type RowData = Exclude<ort.Tensor.DataType, string[]>;

/** The tensor with `rows` rows along axis 0, taken cyclically from its own rows. */
function withRows(runtime: Runtime, t: ort.Tensor, rows: number): ort.Tensor {
  const data = t.data as RowData;
  const rowSize = data.length / t.dims[0];
  const resized = new (data.constructor as new (length: number) => RowData)(rows * rowSize);
  for (let r = 0; r < rows; r++) {
    const from = (r % t.dims[0]) * rowSize;
    resized.set(data.subarray(from, from + rowSize) as never, r * rowSize);
  }
  return new runtime.Tensor(t.type, resized, [rows, ...t.dims.slice(1)]);
}

/**
 * The probe batches, with a second batch size added when there is one batch and the model's
 * batch axis (axis 0 of every input) is dynamic: its n rows repeated to n + 1. One size alone
 * would freeze every batch-dependent dim, and the step graph would accept only that size.
 */
export function probeBatchSizes(
  runtime: Runtime, model: Model, batches: readonly Record<string, ort.Tensor>[],
): Record<string, ort.Tensor>[] {
  if (batches.length !== 1) return [...batches];
  const [feeds] = batches;
  const specs = inputSpecs(model).filter((spec) => feeds[spec.name]);
  const rows = feeds[specs[0]?.name]?.dims[0];
  const batchMajor = specs.every((spec) => {
    const t = feeds[spec.name];
    return spec.dims.length > 0 && spec.dims[0] === null && t.dims[0] === rows && t.location === 'cpu' && t.type !== 'string';
  });
  if (!specs.length || !rows || !batchMajor) return [feeds];
  const resized = Object.fromEntries(specs.map((spec) => [spec.name, withRows(runtime, feeds[spec.name], rows + 1)]));
  return [feeds, { ...feeds, ...resized }];
}
