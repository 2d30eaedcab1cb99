/**
 * numpy's allclose, with the largest differences: every element must satisfy
 * |actual − expected| <= atol + rtol·|expected|. Equal values (infinities included) differ by 0;
 * NaN matches only NaN. Used by `verify` and by the tests, so both judge "close" alike.
 */

export interface Tolerance { rtol: number; atol: number }

export interface Comparison {
  /** max |actual − expected| */
  maxAbs: number;
  /** max |actual − expected| / max(|expected|, tiny), over elements that differ */
  maxRel: number;
  /** Elements outside the tolerance. */
  bad: number;
  /** Index of the element furthest outside (or nearest to leaving) the tolerance; −1 when empty. */
  worst: number;
  close: boolean;
  elements: number;
}

export function compareValues(
  actual: ArrayLike<number | bigint>, expected: ArrayLike<number | bigint | boolean>, { rtol, atol }: Tolerance,
): Comparison {
  let maxAbs = 0;
  let maxRel = 0;
  let bad = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]);
    const e = Number(expected[i]);
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) !== Number.isNaN(e)) {
        maxAbs = maxRel = Infinity;
        bad++;
        worst = i;
        worstExcess = Infinity;
      }
      continue;
    }
    const d = a === e ? 0 : Math.abs(a - e);
    if (d > maxAbs) maxAbs = d;
    if (d > 0) maxRel = Math.max(maxRel, d / Math.max(Math.abs(e), 1e-30));
    const excess = d - (atol + rtol * Math.abs(e));
    if (excess > 0) bad++;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  return { maxAbs, maxRel, bad, worst, close: bad === 0 && actual.length === expected.length, elements: expected.length };
}
