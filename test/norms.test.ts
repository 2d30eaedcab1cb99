/**
 * The per-feature norm and scale loops against a direct index-by-index reference, over layouts
 * that exercise every path: innermost axis kept or reduced, alternating kept/reduced axes, runs
 * sharing features across block and unroll boundaries, float64, and unaligned bytes processed
 * in blocks (tensors larger than one block).
 */
import * as assert from 'node:assert/strict';
import { featureNorms, scaleFeatures } from '../src/tensor/norms';
import type { FloatStorage } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { elementCount } from '../src/tensor/values';

/** Feature index of each element, by definition: kept-axis indices in row-major order. */
function featureIndex(shape: number[], kept: number[], flat: number): number {
  let feature = 0;
  let rest = flat;
  const index = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    index[a] = rest % shape[a];
    rest = Math.floor(rest / shape[a]);
  }
  for (const a of [...kept].sort((x, y) => x - y)) feature = feature * shape[a] + index[a];
  return feature;
}

function referenceNorms(values: ArrayLike<number>, shape: number[], kept: number[]): Float64Array {
  const features = elementCount(kept.map((a) => shape[a]));
  const sums = new Float64Array(features);
  for (let i = 0; i < values.length; i++) sums[featureIndex(shape, kept, i)] += values[i] * values[i];
  return sums.map(Math.sqrt);
}

/** The same values as float32 bytes starting at an odd offset. */
function unaligned(values: Float32Array | Float64Array): FloatStorage {
  const bytes = new Uint8Array(values.byteLength + 1).subarray(1);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return { bytes, Array: values instanceof Float32Array ? Float32Array : Float64Array };
}

function valuesOf(storage: FloatStorage): Float64Array {
  if (!('bytes' in storage)) return Float64Array.from(storage);
  const copy = new Uint8Array(storage.bytes);
  return Float64Array.from(new storage.Array(copy.buffer));
}

const layouts: [number[], number[]][] = [
  [[2048, 40], [1]],          // MatMul [K, N]: innermost kept, 4-run unroll
  [[40, 2048], [0]],          // Gemm transB / Conv [O, C]: innermost reduced
  [[3, 6, 5], [0, 2]],        // kept-reduced-kept: unroll stops at each stretch of 6 runs
  [[5, 7, 3, 2], [1]],        // ConvTranspose [C, O, kh, kw]
  [[2, 3, 4, 5, 6], [0, 2]],  // grouped ConvTranspose view [G, C/G, O/G, kh, kw]
  [[2, 12, 9], [0, 1]],       // LSTM W [D, 4H, I]
  [[300, 257], [1]],          // larger than one 256 KiB block, runs split across blocks
  [[257, 300], [0]],
  [[7], [0]],                 // 1-D MatMul weight kept whole
  [[7], []],                  // 1-D MatMul weight as one vector
  [[4, 1, 3], [1]],           // a size-1 kept axis
];

describe('feature norms and scaling', () => {
  for (const [shape, kept] of layouts) {
    for (const Array of [Float32Array, Float64Array]) {
      it(`${Array.name} [${shape}] keep [${kept}]: aligned and unaligned match the reference`, () => {
        const random = seededRandom(shape.length * 31 + kept.length);
        const values = Array.from(Float64Array.from({ length: elementCount(shape) }, () => random() * 2 - 1));
        const expected = referenceNorms(values, shape, kept);
        const scale = expected.map((_, f) => 0.5 + f);
        const scaled = Float64Array.from(values, (x, i) => x * scale[featureIndex(shape, kept, i)]);
        for (const storage of [Array.from(values), unaligned(values)]) {
          const norms = featureNorms(storage, shape, kept);
          assert.equal(norms.length, expected.length);
          for (let f = 0; f < norms.length; f++) assert.ok(Math.abs(norms[f] - expected[f]) <= 1e-12 * expected[f], `feature ${f}: ${norms[f]} vs ${expected[f]}`);
          scaleFeatures(storage, shape, kept, scale);
          const result = valuesOf(storage);
          const rounding = Array === Float32Array ? 1e-7 : 1e-15;
          for (let i = 0; i < result.length; i++) assert.ok(Math.abs(result[i] - scaled[i]) <= rounding * Math.abs(scaled[i]) + 1e-30, `element ${i}`);
        }
      });
    }
  }
});
