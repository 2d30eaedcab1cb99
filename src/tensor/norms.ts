/**
 * Per-feature L2 norms and scaling over a row-major tensor, where the "feature" index is given
 * by the kept axes (one weight vector per combination of kept-axis indices) and the norm runs
 * over the other axes. Accumulation in float64.
 *
 * These loops are the whole cost of convert and fold on large models, so they are written for
 * speed: neighbouring axes of the same kind are merged, the innermost run is a tight loop, and
 * bytes that are not aligned for a typed view are processed in small blocks through one scratch
 * buffer instead of a copy of the whole tensor.
 */
import { elementCount, type FloatArray, type FloatStorage } from './values';

interface Layout {
  /** Merged dims, outermost first; kept and reduced dims alternate. */
  dims: number[];
  /** Feature-index stride of each merged dim (0 for a reduced dim). */
  featureStrides: number[];
  features: number;
  /** Elements of the innermost merged dim: one contiguous run. */
  inner: number;
  innerKept: boolean;
  runs: number;
}

function layout(shape: readonly number[], keptAxes: readonly number[]): Layout {
  const kept = new Set(keptAxes.map((a) => (a < 0 ? a + shape.length : a)));
  const groups: { size: number; kept: boolean }[] = [];
  shape.forEach((size, axis) => {
    const last = groups[groups.length - 1];
    if (last && last.kept === kept.has(axis)) last.size *= size;
    else groups.push({ size, kept: kept.has(axis) });
  });
  if (groups.length === 0) groups.push({ size: 1, kept: false });
  const featureStrides = new Array<number>(groups.length).fill(0);
  let stride = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    if (groups[i].kept) {
      featureStrides[i] = stride;
      stride *= groups[i].size;
    }
  }
  const dims = groups.map((g) => g.size);
  const inner = dims[dims.length - 1];
  return { dims, featureStrides, features: stride, inner, innerKept: groups[groups.length - 1].kept, runs: elementCount(dims) / inner || 0 };
}

/** Feature index of the first element of a run. */
function featureOfRun(l: Layout, run: number): number {
  let feature = 0;
  for (let axis = l.dims.length - 2; axis >= 0 && run > 0; axis--) {
    const index = run % l.dims[axis];
    run = (run - index) / l.dims[axis];
    feature += index * l.featureStrides[axis];
  }
  return feature;
}

const BLOCK_BYTES = 1 << 18;

/**
 * Visits all runs in order, as visit(values, start, feature, runs): `runs` consecutive runs
 * (1, or 4 when they share their features) begin at values[start] with feature index `feature`.
 * With the innermost dim kept, the dim outside it is reduced, so each aligned stretch of that
 * many runs shares its features: taking four per pass saves three passes over the features.
 * Unaligned bytes go through a scratch block, copied back when writeBack is set.
 */
function forEachRunGroup(storage: FloatStorage, l: Layout, writeBack: boolean,
  visit: (values: FloatArray, start: number, feature: number, runs: 1 | 4) => void): void {
  const shared = l.innerKept && l.dims.length > 1 ? l.dims[l.dims.length - 2] : 1;
  const visitBlock = (values: FloatArray, firstRun: number, runCount: number) => {
    for (let r = 0; r < runCount;) {
      const run = firstRun + r;
      const runs = r + 4 <= runCount && (run % shared) + 4 <= shared ? 4 : 1;
      visit(values, r * l.inner, featureOfRun(l, run), runs);
      r += runs;
    }
  };
  if (!('bytes' in storage)) {
    visitBlock(storage, 0, l.runs);
    return;
  }
  const runBytes = l.inner * storage.Array.BYTES_PER_ELEMENT;
  const blockRuns = Math.max(1, Math.floor(BLOCK_BYTES / runBytes));
  const scratch = new Uint8Array(Math.min(blockRuns, l.runs) * runBytes);
  const scratchValues = new storage.Array(scratch.buffer);
  for (let first = 0; first < l.runs; first += blockRuns) {
    const count = Math.min(blockRuns, l.runs - first);
    const from = first * runBytes;
    const to = from + count * runBytes;
    scratch.set(storage.bytes.subarray(from, to));
    visitBlock(scratchValues, first, count);
    if (writeBack) storage.bytes.set(scratch.subarray(0, to - from), from);
  }
}

/** ‖v‖ per feature: sqrt of the sum of squares over the non-kept axes. */
export function featureNorms(storage: FloatStorage, shape: readonly number[], keptAxes: readonly number[]): Float64Array {
  const l = layout(shape, keptAxes);
  const sums = new Float64Array(l.features);
  const inner = l.inner;
  forEachRunGroup(storage, l, false, (values, a, feature, runs) => {
    if (!l.innerKept) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let i = a;
      const end = a + inner;
      for (; i + 4 <= end; i += 4) {
        const x0 = values[i], x1 = values[i + 1], x2 = values[i + 2], x3 = values[i + 3];
        s0 += x0 * x0; s1 += x1 * x1; s2 += x2 * x2; s3 += x3 * x3;
      }
      for (; i < end; i++) s0 += values[i] * values[i];
      sums[feature] += s0 + s1 + s2 + s3;
    } else if (runs === 4) {
      const b = a + inner, c = b + inner, d = c + inner;
      for (let i = 0; i < inner; i++) {
        const x0 = values[a + i], x1 = values[b + i], x2 = values[c + i], x3 = values[d + i];
        sums[feature + i] += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
      }
    } else {
      for (let i = 0; i < inner; i++) sums[feature + i] += values[a + i] * values[a + i];
    }
  });
  for (let f = 0; f < sums.length; f++) sums[f] = Math.sqrt(sums[f]);
  return sums;
}

/** values[i] *= scale[feature(i)], in place (into the bytes for unaligned storage). */
export function scaleFeatures(storage: FloatStorage, shape: readonly number[], keptAxes: readonly number[], scale: Float64Array): void {
  const l = layout(shape, keptAxes);
  const inner = l.inner;
  forEachRunGroup(storage, l, true, (values, a, feature, runs) => {
    if (!l.innerKept) {
      const s = scale[feature];
      for (let i = a, end = a + inner; i < end; i++) values[i] *= s;
    } else if (runs === 4) {
      const b = a + inner, c = b + inner, d = c + inner;
      for (let i = 0; i < inner; i++) {
        const s = scale[feature + i];
        values[a + i] *= s; values[b + i] *= s; values[c + i] *= s; values[d + i] *= s;
      }
    } else {
      for (let i = 0; i < inner; i++) values[a + i] *= scale[feature + i];
    }
  });
}
