/** Element sizes and float conversions (float16, bfloat16) for raw tensor bytes. */
import { DataType, dataTypeName } from '../onnx/enums';
import { WnError } from '../errors';

const ELEMENT_BYTES: Partial<Record<DataType, number>> = {
  [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2,
  [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.INT16]: 2, [DataType.UINT16]: 2,
  [DataType.INT32]: 4, [DataType.UINT32]: 4, [DataType.INT64]: 8, [DataType.UINT64]: 8, [DataType.BOOL]: 1,
};

export function elementBytes(type: DataType): number {
  const size = ELEMENT_BYTES[type];
  if (size === undefined) throw new WnError(`tensors of type ${dataTypeName(type)} are not supported here`);
  return size;
}

const scratch = new DataView(new ArrayBuffer(4));

export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Round-to-nearest-even float -> IEEE half. */
export function floatToHalf(value: number): number {
  scratch.setFloat32(0, value);
  const x = scratch.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function bfloat16ToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

/** Round-to-nearest-even float -> bfloat16. */
export function floatToBfloat16(value: number): number {
  scratch.setFloat32(0, value);
  const x = scratch.getUint32(0);
  if (Number.isNaN(value)) return (x >>> 16) | 0x40;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}
