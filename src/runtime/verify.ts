/** Runs two models on the same feeds and reports the largest differences per output. */
import type * as ort from 'onnxruntime-common';
import { WnError } from '../errors';
import { runSession } from './session';

export interface OutputDifference {
  output: string;
  /** max |a - b| */
  maxAbs: number;
  /** max |a - b| / max(|a|, tiny) over elements */
  maxRel: number;
  /** Whether every element satisfies |a - b| <= atol + rtol·|a| (numpy's allclose). */
  close: boolean;
  elements: number;
}

export interface Tolerance { rtol: number; atol: number }

export async function compareSessions(
  a: ort.InferenceSession, b: ort.InferenceSession, feeds: Record<string, ort.Tensor>, tolerance: Tolerance,
): Promise<OutputDifference[]> {
  const missing = a.outputNames.filter((n) => !b.outputNames.includes(n));
  if (missing.length) throw new WnError(`the second model has no output named ${missing.map((n) => `"${n}"`).join(', ')}`);
  const [outA, outB] = [await runSession(a, feeds), await runSession(b, feeds)];
  return a.outputNames.map((name) => difference(name, outA[name], outB[name], tolerance));
}

export function difference(output: string, a: ort.Tensor, b: ort.Tensor, { rtol, atol }: Tolerance): OutputDifference {
  if (a.dims.join() !== b.dims.join()) throw new WnError(`output "${output}": shapes differ, [${a.dims}] vs [${b.dims}]`);
  const x = a.data as ArrayLike<number | bigint>;
  const y = b.data as ArrayLike<number | bigint>;
  let maxAbs = 0;
  let maxRel = 0;
  let close = true;
  for (let i = 0; i < x.length; i++) {
    const p = Number(x[i]);
    const q = Number(y[i]);
    if (Number.isNaN(p) || Number.isNaN(q)) {
      if (Number.isNaN(p) !== Number.isNaN(q)) { maxAbs = maxRel = Infinity; close = false; }
      continue;
    }
    const d = p === q ? 0 : Math.abs(p - q);
    if (d > maxAbs) maxAbs = d;
    const rel = d / Math.max(Math.abs(p), 1e-30);
    if (rel > maxRel && d > 0) maxRel = rel;
    if (d > atol + rtol * Math.abs(p)) close = false;
  }
  return { output, maxAbs, maxRel, close, elements: x.length };
}
