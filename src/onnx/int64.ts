import Long from 'long';
import type { Int64 } from './proto';
import { WnError } from '../errors';

/** An int64 field as a JS number; refuses values a double cannot hold exactly. */
export function toNumber(value: Int64 | undefined | null): number {
  if (value == null) return 0;
  if (typeof value === 'number') return value;
  const n = Long.fromValue(value).toNumber();
  if (!Number.isSafeInteger(n)) {
    const shown = Long.fromValue(value).toString();
    throw new WnError(`the model holds the int64 value ${shown} where wn-onnx needs one within ±2^53 (a dimension, axis or attribute); the model is damaged`);
  }
  return n;
}
