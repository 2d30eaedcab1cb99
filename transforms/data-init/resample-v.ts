/**
 * resampleDirections: draws every weight-normalized direction v afresh from N(0, std²), the
 * paper's start for training from scratch (std 0.05). Seeded: the same seed gives the same
 * model. g is left as it is (data-dependent init sets it next; W's norm stays g meanwhile).
 */
import type { Model } from '../../src/ir/model';
import { seededNormal } from '../../src/tensor/random';
import { elementCount, tensorDims, withFloatValues } from '../../src/tensor/values';
import { weightNormGroups } from '../../src/wn/spec';
import { option, WnError } from '../../src/errors';

export interface ResampleOptions {
  /** Standard deviation (default 0.05, the paper's). */
  std?: number;
  seed?: number;
}

/** Returns the names of the resampled directions. */
export function resampleDirections(model: Model, { std = 0.05, seed = 0 }: ResampleOptions = {}): string[] {
  if (!(std > 0) || !Number.isFinite(std)) throw new WnError(`${option('std')} must be a positive number, got ${std}`);
  const graph = model.graph;
  const normal = seededNormal(seed);
  const names: string[] = [];
  for (const { spec } of weightNormGroups(graph.nodes).values()) {
    const v = graph.initializer(spec.v);
    if (!v) throw new WnError(`cannot resample "${spec.weight}": its direction "${spec.v}" is not an initializer`);
    const values = Float64Array.from({ length: elementCount(tensorDims(v)) }, () => std * normal());
    graph.replaceInitializer(spec.v, [withFloatValues(v, values)]);
    names.push(spec.v);
  }
  return names;
}
