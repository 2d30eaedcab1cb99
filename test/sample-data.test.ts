/**
 * Sample-data readers against files written by numpy, onnx and struct
 * (test/fixtures/make_data_fixtures.py) and the real Fashion-MNIST files (Debian's
 * dataset-fashion-mnist): every format gives the same array; inputs get their batch rows, unit
 * axes, casts and clear errors.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType } from '../src/onnx/enums';
import { readSampleData } from '../src/data/sample-data';
import { assignInputs, batchRows, gatherRows, type SampleSource } from '../src/data/batch';
import { inputTensor } from '../src/runtime/tensors';
import type { InputSpec } from '../src/ir/inputs';
import { runtime } from './support';

const DATA = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'data');
const FASHION = process.env.FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
const expected = Array.from({ length: 24 }, (_, i) => i);

const read = (file: string) => readSampleData(fs.readFileSync(path.join(DATA, file)), file);
const only = (file: string) => {
  const arrays = read(file);
  assert.equal(arrays.size, 1);
  return arrays.get('')!;
};
const spec = (name: string, type: DataType, dims: (number | null)[]): InputSpec => ({ name, type, dims, params: dims.map((d) => (d === null ? 'batch' : null)) });

describe('sample data', () => {
  const formats: [string, string][] = [
    ['x_float32.npy', 'float32'], ['x_float16.npy', 'float16'], ['x_float64.npy', 'float64'], ['x_uint8.npy', 'uint8'],
    ['x_int64.npy', 'int64'], ['x.pb', 'float32'], ['x_float32.idx', 'float32'], ['x_uint8.idx.gz', 'uint8'],
  ];
  for (const [file, dtype] of formats) {
    it(`${file}: [6, 4] ${dtype}, the integers 0..23`, () => {
      const array = only(file);
      assert.deepEqual(array.shape, [6, 4]);
      assert.equal(array.dtype, dtype);
      assert.deepEqual(Array.from(array.data, Number), expected);
    });
  }

  for (const file of ['xy.npz', 'xy_compressed.npz']) {
    it(`${file}: arrays by name`, () => {
      const arrays = read(file);
      assert.deepEqual([...arrays.keys()].sort(), ['ids', 'x']);
      assert.deepEqual(Array.from(arrays.get('x')!.data, Number), expected);
      assert.deepEqual(Array.from(arrays.get('ids')!.data, Number), [0, 1, 2, 3, 4, 5]);
      assert.equal(arrays.get('ids')!.dtype, 'int64');
    });
  }

  it('Fashion-MNIST IDX files (gzipped): 10000 test images of 28x28 and their labels', () => {
    const images = readSampleData(fs.readFileSync(path.join(FASHION, 't10k-images-idx3-ubyte.gz')), 'images').get('')!;
    const labels = readSampleData(fs.readFileSync(path.join(FASHION, 't10k-labels-idx1-ubyte.gz')), 'labels').get('')!;
    assert.deepEqual(images.shape, [10000, 28, 28]);
    assert.deepEqual(labels.shape, [10000]);
    assert.equal(images.dtype, 'uint8');
    // the first test image is an ankle boot (class 9), the second a pullover (class 2)
    assert.deepEqual(Array.from(labels.data, Number).slice(0, 2), [9, 2]);
    const classes = new Set(Array.from(labels.data, Number));
    assert.deepEqual([...classes].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('feeds an .npz to two inputs by name; casts int64 ids to the input type', () => {
    const specs = [spec('x', DataType.FLOAT, [null, 4]), spec('ids', DataType.INT64, [null])];
    const inputs = assignInputs(specs, [{ source: 'xy.npz', arrays: read('xy.npz') }]);
    const rows = batchRows(inputs[0], 3);
    const [x, ids] = inputs.map((input) => inputTensor(runtime, input, rows));
    assert.deepEqual([...x.dims], [3, 4]);
    assert.deepEqual(Array.from(x.data as Float32Array), expected.slice(0, 12));
    assert.equal(ids.type, 'int64');
    assert.deepEqual(Array.from(ids.data as BigInt64Array, Number), [0, 1, 2]);
  });

  it('a shuffled batch: the listed rows, each value converted to the float type (uint8, float64, int64, plain arrays)', () => {
    const rows = [3, 0, 2, 2];
    const sources = [
      Uint8Array.from({ length: 12 }, (_, i) => (i * 37) % 256),
      Float64Array.from({ length: 12 }, (_, i) => i / 3 - 1.1),
      BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i * 1000 - 5000)),
      Array.from({ length: 12 }, (_, i) => i * 0.7),
    ];
    for (const data of sources) {
      const expected = rows.flatMap((r) => Array.from({ length: 3 }, (_, k) => Math.fround(Number(data[r * 3 + k]))));
      const gathered = gatherRows(data, rows, 3, 'float32');
      assert.ok(gathered instanceof Float32Array);
      assert.deepEqual(Array.from(gathered as Float32Array), expected, data.constructor.name);
      assert.deepEqual(Array.from(gatherRows(data, rows, 3, 'float64') as Float64Array), rows.flatMap((r) => [0, 1, 2].map((k) => Number(data[r * 3 + k]))));
    }
  });

  it('IDX images [N, 28, 28] uint8 feed an input [N, 1, 28, 28] float32', () => {
    const images = readSampleData(fs.readFileSync(path.join(FASHION, 't10k-images-idx3-ubyte.gz')), 'images');
    const [input] = assignInputs([spec('image', DataType.FLOAT, [null, 1, 28, 28])], [{ source: 'images', arrays: images }]);
    const t = inputTensor(runtime, input, batchRows(input, 64));
    assert.deepEqual([...t.dims], [64, 1, 28, 28]);
    assert.equal(t.type, 'float32');
    assert.equal((t.data as Float32Array)[0], Number(images.get('')!.data[0]));
  });

  describe('bad data: one clear error', () => {
    const feed = (s: InputSpec, source: SampleSource, rows?: number) => {
      const [input] = assignInputs([s], [source]);
      return inputTensor(runtime, input, batchRows(input, rows));
    };
    const x = () => ({ source: 'x_float32.npy', arrays: read('x_float32.npy') });
    it('wrong shape names the input and both shapes', () => {
      assert.throws(() => feed(spec('x', DataType.FLOAT, [null, 5]), x()), /x_float32\.npy: input "x" expects shape \[batch,5\], the data has shape \[6,4\]/);
    });
    it('float data for an integer input', () => {
      assert.throws(() => feed(spec('ids', DataType.INT64, [null, 4]), x()), /input "ids" is INT64, the data is float32/);
    });
    it('more rows than the data has', () => {
      assert.throws(() => feed(spec('x', DataType.FLOAT, [null, 4]), x(), 7), /7 rows are needed for input "x", the data has 6/);
    });
    it('a fixed batch size that `batchSize` contradicts', () => {
      assert.throws(() => feed(spec('x', DataType.FLOAT, [2, 4]), x(), 3), /fixed batch size of 2, `batchSize` asks for 3/);
    });
    it('NaN in the data names the row', () => {
      const source = x();
      (source.arrays.get('')!.data as Float32Array)[9] = NaN;
      assert.throws(() => feed(spec('x', DataType.FLOAT, [null, 4]), source), /row 2 of the data for input "x" holds NaN/);
    });
    it('an empty file, garbage, a damaged gzip', () => {
      assert.throws(() => readSampleData(new Uint8Array(0), 'empty.npy'), /empty\.npy: the file is empty/);
      assert.throws(() => readSampleData(new TextEncoder().encode('hello, world'), 'notes.txt'), /notes\.txt: not a sample-data file/);
      assert.throws(() => readSampleData(Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2), 'broken.gz'), /broken\.gz: gzip data is damaged/);
    });
    it('an npz array that matches no input', () => {
      assert.throws(() => assignInputs([spec('image', DataType.FLOAT, [null, 4])], [{ source: 'xy.npz', arrays: read('xy.npz') }]), /array "(x|ids)" matches no model input/);
    });
  });
});
