/** Summary statistics of a list of numbers (what inspect and init report per layer). */

export interface Stats { min: number; mean: number; max: number }

export function stats(values: ArrayLike<number>): Stats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  return { min, mean: values.length ? sum / values.length : NaN, max };
}
