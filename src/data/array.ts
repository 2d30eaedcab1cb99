/** An n-dimensional array read from a sample-data file, before it becomes a model input. */
import { WnError } from '../errors';

export interface NdArray {
  /** Values in row-major order. */
  data: ArrayLike<number | bigint | boolean>;
  shape: number[];
  /** Element type as numpy names it: float32, float16, uint8, int64, bool, … */
  dtype: string;
}

export const isFloatDtype = (dtype: string) => dtype.startsWith('float') || dtype === 'bfloat16';

/**
 * The most bytes of data wn-onnx reads from one sample-data file: one array, all the arrays of
 * an .npz together, or the content of a gzip. Everything is read into memory, and a header is
 * only a promise: a few bytes of a hostile file can declare terabytes.
 */
export const MAX_SAMPLE_BYTES = 2 ** 31;
const MAX_SAMPLE_TEXT = '2 GiB';

/** What a file's header declares about one array, for checkedByteSize's messages. */
export interface DeclaredArray {
  /** The file as the user named it. */
  source: string;
  /** The format whose header declares it: 'IDX', '.npy', 'TensorProto'. */
  format: string;
  dims: readonly bigint[];
  dtype: string;
  itemBytes: number;
}

/**
 * The bytes the declared array needs, checked before anything is allocated: every dim a size
 * (0 or more), the product exact (BigInt: no overflow), and at most MAX_SAMPLE_BYTES.
 */
export function checkedByteSize(array: DeclaredArray): number {
  const { source, format, dims, dtype, itemBytes } = array;
  const declares = `${source}: its ${format} header declares shape [${dims.join(', ')}] of ${dtype}`;
  const negative = dims.find((d) => d < 0n);
  if (negative !== undefined) {
    throw new WnError(`${declares}, and ${negative} is not a size (0 or more); the file is damaged or not ${format} data`);
  }
  const bytes = dims.reduce((n, d) => n * d, BigInt(itemBytes));
  if (bytes > BigInt(MAX_SAMPLE_BYTES)) throw tooLarge(`${declares}:`, bytes);
  return Number(bytes);
}

/** The refusal of data over MAX_SAMPLE_BYTES; `what` says whose size it is and who says so. */
export function tooLarge(what: string, bytes: number | bigint): WnError {
  return new WnError(`${what} ${bytes} bytes, more than the ${MAX_SAMPLE_TEXT} wn-onnx reads into memory from one file; `
    + 'pass a smaller sample of the data (or check that the file is not damaged)');
}
