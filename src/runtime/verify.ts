/** Runs two models on the same feeds and reports the largest differences per output. */
import type * as ort from 'onnxruntime-common';
import type { Model } from '../ir/model';
import { compareValues, type Tolerance } from '../tensor/compare';
import { WnError } from '../errors';
import { withSession, type SessionSettings } from './session';
import type { Runtime } from './ort';

export interface OutputDifference {
  output: string;
  /** max |a - b| */
  maxAbs: number;
  /** max |a - b| / max(|a|, tiny) over elements */
  maxRel: number;
  /** Whether every element satisfies |a - b| <= atol + rtol·|a| (numpy's allclose, a the reference). */
  close: boolean;
  elements: number;
}

/** Runs `a` and `b` on `feeds` (one session at a time) and compares every output of `a` with `b`'s. */
export async function compareModels(
  runtime: Runtime, a: Model, b: Model, feeds: Record<string, ort.Tensor>, tolerance: Tolerance, settings: SessionSettings = {},
): Promise<OutputDifference[]> {
  // one run each: large weights are fed, so ONNX Runtime holds no copy of them
  settings = { largeInitializers: 'inputs', ...settings };
  const [outA, names] = await withSession(runtime, a, settings, async (s) => [await s.run(feeds), s.outputNames] as const);
  const outB = await withSession(runtime, b, settings, async (s) => {
    const missing = names.filter((n) => !s.outputNames.includes(n));
    if (missing.length) throw new WnError(`the second model has no output named ${missing.map((n) => `"${n}"`).join(', ')}`);
    return s.run(feeds);
  });
  return names.map((name) => difference(name, outA[name], outB[name], tolerance));
}

function difference(output: string, a: ort.Tensor, b: ort.Tensor, tolerance: Tolerance): OutputDifference {
  if (a.dims.join() !== b.dims.join()) throw new WnError(`output "${output}": shapes differ, [${a.dims}] vs [${b.dims}]`);
  const c = compareValues(b.data as ArrayLike<number>, a.data as ArrayLike<number>, tolerance);
  return { output, maxAbs: c.maxAbs, maxRel: c.maxRel, close: c.close, elements: c.elements };
}
