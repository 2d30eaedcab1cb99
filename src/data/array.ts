/** An n-dimensional array read from a sample-data file, before it becomes a model input. */
export interface NdArray {
  /** Values in row-major order. */
  data: ArrayLike<number | bigint | boolean>;
  shape: number[];
  /** Element type as numpy names it: float32, float16, uint8, int64, bool, … */
  dtype: string;
}

export const isFloatDtype = (dtype: string) => dtype.startsWith('float') || dtype === 'bfloat16';
