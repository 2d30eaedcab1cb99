import Long from 'long';
import type { Int64 } from './proto';

/** An int64 field as a JS number; refuses values a double cannot hold exactly. */
export function toNumber(value: Int64 | undefined | null): number {
  if (value == null) return 0;
  if (typeof value === 'number') return value;
  const n = Long.fromValue(value).toNumber();
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${Long.fromValue(value).toString()} is out of the safe integer range`);
  return n;
}
