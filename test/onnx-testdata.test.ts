/**
 * ONNX's own test models (Debian's libonnx-testdata), checked against ONNX's expected outputs:
 *
 *   pytorch-converted  test_Conv1d*, test_Conv2d*, test_Conv3d*, test_ConvTranspose2d*, test_Linear*:
 *                      opset 6 / IR 3 originals upgraded to opset 13 by make_fixtures.py
 *                      (test/fixtures/onnx-testdata); inputs and expected outputs read from the
 *                      package's test_data_set_* folders.
 *   node               single-operator tests for Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU, RNN.
 *                      Their weights are graph inputs: as given, convert must leave them with the
 *                      reason (not constants); with the weights made initializers (from the test's
 *                      input_N.pb, stored as float_data) they go through convert and fold like any
 *                      model.
 *
 * The data folder can be moved with ONNX_TESTDATA (default /usr/share/libonnx-testdata/data).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { convert, decodeModel, inputSpecs, loadModelFile, saveModel } from '../src/node';
import { Model } from '../src/ir/model';
import type { ModelProto, TensorProto } from '../src/onnx/proto';
import { createTensorProto } from '../src/onnx/codec';
import { DataType } from '../src/onnx/enums';
import { readFloats } from '../src/tensor/values';
import { weightSlots } from '../src/wn/layers';
import { ortTensor, readTensorFile, tensorArray } from './helpers/onnx-tensor';
import { runtime, type Tolerance } from './helpers/ort';
import { hasBatchFirstRecurrence, sequenceFirstForRuntime } from './helpers/rnn-layout';
import { checkRoundTrip, type Dataset } from './helpers/roundtrip';

const DATA = process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
const PYTORCH_CONVERTED = path.join(DATA, 'pytorch-converted');
const NODE = path.join(DATA, 'node');
const UPGRADED = path.join(__dirname, '..', '..', 'test', 'fixtures', 'onnx-testdata');

const TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };

function listDirs(folder: string, pattern: RegExp): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((n) => pattern.test(n) && fs.statSync(path.join(folder, n)).isDirectory()).sort();
}

function numbered(folder: string, prefix: 'input' | 'output'): string[] {
  const files: string[] = [];
  for (let i = 0; fs.existsSync(path.join(folder, `${prefix}_${i}.pb`)); i++) files.push(path.join(folder, `${prefix}_${i}.pb`));
  return files;
}

/**
 * Every test_data_set_* of a test: feeds for the inputs still fed at run time (matched by
 * position among the original graph inputs, as the .pb files are), expected outputs.
 */
function datasets(testDir: string, originalInputs: string[], fedInputs: Set<string>, types: Map<string, number>): Dataset[] {
  const sets = listDirs(testDir, /^test_data_set_\d+$/);
  assert.ok(sets.length > 0, `${testDir} has no test_data_set_*`);
  return sets.map((set) => {
    const folder = path.join(testDir, set);
    const inputs = numbered(folder, 'input');
    const feeds: Record<string, ort.Tensor> = {};
    inputs.forEach((file, i) => {
      const name = originalInputs[i];
      if (!fedInputs.has(name)) return;
      const t = readTensorFile(file);
      assert.equal(t.data_type, types.get(name), `${file}: data type of input "${name}"`);
      feeds[name] = ortTensor(runtime, t);
    });
    for (const name of fedInputs) assert.ok(feeds[name], `${folder}: no data for input "${name}"`);
    return { feeds, expected: numbered(folder, 'output').map((f) => tensorArray(readTensorFile(f))) };
  });
}

function elemTypes(model: Model): Map<string, number> {
  return new Map(model.graph.inputs.map((i) => [i.name ?? '', i.type?.tensor_type?.elem_type ?? 0]));
}

describe('ONNX test data (libonnx-testdata): convert and fold', function () {
  it('has the test data', function () {
    assert.ok(fs.existsSync(PYTORCH_CONVERTED) && fs.existsSync(NODE),
      `ONNX test data not found under ${DATA}: install Debian's libonnx-testdata or set ONNX_TESTDATA`);
  });

  describe('pytorch-converted models upgraded to opset 13', function () {
    const names = listDirs(PYTORCH_CONVERTED, /^test_(Conv1d|Conv2d|Conv3d|ConvTranspose2d|Linear)/);

    it('has an upgraded fixture for every test of the package, and no other', function () {
      const fixtures = fs.readdirSync(UPGRADED).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();
      assert.deepEqual(fixtures, names, 'test/fixtures/onnx-testdata vs the package; rerun make_fixtures.py');
      assert.ok(names.length >= 28, `only ${names.length} tests found`);
    });

    for (const name of names) {
      it(name, async function () {
        const { model } = loadModelFile(path.join(UPGRADED, `${name}.onnx`));
        assert.equal(model.opset(), 13, 'upgraded opset');
        const original = decodeModel(fs.readFileSync(path.join(PYTORCH_CONVERTED, name, 'model.onnx')));
        const originalInputs = (original.graph?.input ?? []).map((i) => i.name ?? '');
        assert.deepEqual(model.graph.inputs.map((i) => i.name), originalInputs, 'the upgrade keeps the graph inputs');
        const fed = new Set(inputSpecs(model).map((s) => s.name));
        const op = name.startsWith('test_ConvTranspose') ? 'ConvTranspose' : name.startsWith('test_Conv') ? 'Conv' : name === 'test_Linear' ? 'Gemm' : 'MatMul';
        await checkRoundTrip({
          model,
          data: datasets(path.join(PYTORCH_CONVERTED, name), originalInputs, fed, elemTypes(model)),
          tolerance: TOLERANCE,
          converted: 1,
          layers: { [op]: 1 },
        });
      });
    }
  });

  describe('node tests: single operators', function () {
    const names = listDirs(NODE, /^test_(conv_|basic_conv_with|convtranspose|gemm_|matmul_[234]d$|lstm_|gru_|rnn_|simple_rnn_)/);

    it('finds the operator tests', function () {
      assert.ok(names.length >= 40, `only ${names.length} node tests found`);
    });

    for (const name of names) {
      const dir = path.join(NODE, name);
      const load = (): ModelProto => decodeModel(fs.readFileSync(path.join(dir, 'model.onnx')));

      /** The weight inputs of the test's one node, as graph-input indices. */
      const weightInputs = (proto: ModelProto): { name: string; index: number }[] => {
        const nodes = proto.graph?.node ?? [];
        assert.equal(nodes.length, 1, 'a node test has one node');
        const graphInputs = (proto.graph?.input ?? []).map((i) => i.name ?? '');
        return weightSlots(nodes[0]).map((slot) => nodes[0].input?.[slot.input] ?? '').filter(Boolean).map((input) => {
          const index = graphInputs.indexOf(input);
          assert.ok(index >= 0, `weight "${input}" is not a graph input`);
          return { name: input, index };
        });
      };

      it(`${name}: weights fed as graph inputs are left alone, with the reason`, function () {
        const proto = load();
        const weights = weightInputs(proto);
        const model = new Model(proto);
        const before = saveModel(model);
        const { report } = convert(model);
        assert.equal(report.converted.length, 0, 'nothing to convert');
        assert.deepEqual(report.skipped.map((s) => s.input), weights.map((w) => w.name), 'skipped weight inputs');
        for (const s of report.skipped) assert.match(s.reason, new RegExp(`weight "${s.input}" is a graph input, not a constant`));
        assert.deepEqual(saveModel(model), before, 'the model is unchanged');
      });

      it(`${name}: weights as initializers convert and fold`, async function () {
        const proto = load();
        const graph = proto.graph!;
        const originalInputs = (graph.input ?? []).map((i) => i.name ?? '');
        const weights = weightInputs(proto);
        const set0 = path.join(dir, 'test_data_set_0');
        for (const set of listDirs(dir, /^test_data_set_\d+$/)) {
          for (const w of weights) {
            const file = `input_${w.index}.pb`;
            assert.deepEqual(fs.readFileSync(path.join(dir, set, file)), fs.readFileSync(path.join(set0, file)), `${set}/${file}: one weight for every data set`);
          }
        }
        graph.initializer ??= [];
        for (const w of weights) {
          const tensor: TensorProto = readTensorFile(path.join(set0, `input_${w.index}.pb`));
          assert.equal(tensor.data_type, DataType.FLOAT, `weight "${w.name}" is float32`);
          // stored in float_data (the test's .pb files use raw_data, as the other fixtures do)
          graph.initializer.push(createTensorProto({ name: w.name, data_type: DataType.FLOAT, dims: tensor.dims, float_data: Array.from(readFloats(tensor)) }));
        }
        const model = new Model(proto);
        // IR >= 4: an initializer need not (and here should not) be a graph input; IR 3 lists it as one
        if (!model.initializersAreInputs) model.graph.removeGraphInputs(new Set(weights.map((w) => w.name)));
        const fed = new Set(inputSpecs(model).map((s) => s.name));
        assert.ok(weights.every((w) => !fed.has(w.name)), 'weights are no longer fed');
        const op = graph.node![0].op_type ?? '';
        await checkRoundTrip({
          model,
          data: datasets(dir, originalInputs, fed, elemTypes(model)),
          tolerance: TOLERANCE,
          converted: weights.length,
          layers: { [op]: weights.length },
          // ONNX Runtime's CPU kernels have no layout = 1: run an equivalent sequence-first copy
          runnable: hasBatchFirstRecurrence(graph.node ?? []) ? sequenceFirstForRuntime : undefined,
        });
      });
    }
  });
});
