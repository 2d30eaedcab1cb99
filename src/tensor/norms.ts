/**
 * Per-feature L2 norms and scaling over a row-major tensor, where the "feature" index is given
 * by the kept axes (one weight vector per combination of kept-axis indices) and the norm runs
 * over the other axes. Accumulation in float64.
 */
import type { FloatArray } from './values';

interface Layout {
  /** Merged dims, outermost first. */
  dims: number[];
  /** Feature-index stride of each merged dim (0 for a reduced dim). */
  featureStrides: number[];
  features: number;
}

/** Merges neighbouring axes that are both kept or both reduced, so loops stay few and contiguous. */
function layout(shape: readonly number[], keptAxes: readonly number[]): Layout {
  const kept = new Set(keptAxes.map((a) => (a < 0 ? a + shape.length : a)));
  const groups: { size: number; kept: boolean }[] = [];
  shape.forEach((size, axis) => {
    const last = groups[groups.length - 1];
    if (last && last.kept === kept.has(axis)) last.size *= size;
    else groups.push({ size, kept: kept.has(axis) });
  });
  const featureStrides = new Array<number>(groups.length).fill(0);
  let stride = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    if (groups[i].kept) {
      featureStrides[i] = stride;
      stride *= groups[i].size;
    }
  }
  return { dims: groups.map((g) => g.size), featureStrides, features: stride };
}

/** Visits every element in row-major order with its feature index; the innermost dim is a tight loop. */
function forEachRun(l: Layout, visit: (start: number, length: number, feature: number, featureStep: number) => void): void {
  const depth = l.dims.length;
  if (depth === 0) {
    visit(0, 1, 0, 0);
    return;
  }
  const inner = l.dims[depth - 1];
  const innerStep = l.featureStrides[depth - 1];
  const counter = new Array<number>(depth - 1).fill(0);
  const outerCount = l.dims.slice(0, depth - 1).reduce((n, d) => n * d, 1);
  let feature = 0;
  for (let run = 0; run < outerCount; run++) {
    visit(run * inner, inner, feature, innerStep);
    for (let axis = depth - 2; axis >= 0; axis--) {
      counter[axis]++;
      feature += l.featureStrides[axis];
      if (counter[axis] < l.dims[axis]) break;
      feature -= l.featureStrides[axis] * counter[axis];
      counter[axis] = 0;
    }
  }
}

/** ‖v‖ per feature: sqrt of the sum of squares over the non-kept axes. */
export function featureNorms(values: FloatArray, shape: readonly number[], keptAxes: readonly number[]): Float64Array {
  const l = layout(shape, keptAxes);
  const sums = new Float64Array(l.features);
  forEachRun(l, (start, length, feature, step) => {
    if (step === 0) {
      let s = 0;
      for (let i = start, end = start + length; i < end; i++) s += values[i] * values[i];
      sums[feature] += s;
    } else {
      for (let i = 0; i < length; i++) sums[feature + i * step] += values[start + i] * values[start + i];
    }
  });
  for (let f = 0; f < sums.length; f++) sums[f] = Math.sqrt(sums[f]);
  return sums;
}

/** values[i] *= scale[feature(i)], in place. */
export function scaleFeatures(values: FloatArray, shape: readonly number[], keptAxes: readonly number[], scale: Float64Array): void {
  const l = layout(shape, keptAxes);
  forEachRun(l, (start, length, feature, step) => {
    for (let i = 0; i < length; i++) values[start + i] *= scale[feature + i * step];
  });
}
