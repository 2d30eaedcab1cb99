/**
 * The constant-subgraph evaluator (src/ir/evaluate.ts, what proves foreign weight norm) against
 * ONNX's expected outputs: every single-op test of Debian's libonnx-testdata for an op it
 * evaluates, with the test's inputs made initializers, must give the test's output_0.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType } from '../src/onnx/enums';
import { Evaluator, EVALUATED_OPS, tensorValue } from '../src/ir/evaluate';
import { loadModelFile } from '../src/node/model-file';
import { compareValues } from '../src/tensor/compare';
import { readTensorFile } from './helpers/onnx-tensor';

const NODE = path.join(process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data', 'node');

/** Element types whose values are exact in float64 (uint64 and others beyond 2^53 are not). */
const TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.INT64, DataType.INT32, DataType.INT8, DataType.UINT8]);

interface Case { name: string; dir: string }

function cases(): Case[] {
  if (!fs.existsSync(NODE)) return [];
  return fs.readdirSync(NODE).sort().flatMap((name) => {
    const dir = path.join(NODE, name);
    const modelFile = path.join(dir, 'model.onnx');
    if (!fs.existsSync(modelFile) || !fs.existsSync(path.join(dir, 'test_data_set_0', 'output_0.pb'))) return [];
    const { model } = loadModelFile(modelFile);
    const [node] = model.graph.nodes;
    if (model.graph.nodes.length !== 1 || !EVALUATED_OPS.has(node.op_type ?? '') || (node.output ?? []).length !== 1) return [];
    if (!model.graph.inputs.every((i) => i.type?.tensor_type)) return []; // sequences and optionals are not tensors
    const set = path.join(dir, 'test_data_set_0');
    const tensors = fs.readdirSync(set).map((f) => readTensorFile(path.join(set, f)));
    return tensors.every((t) => TYPES.has(t.data_type ?? 0)) ? [{ name, dir }] : [];
  });
}

describe('the constant-subgraph evaluator against ONNX\'s expected outputs (libonnx-testdata node tests)', () => {
  const found = cases();
  it('finds the tests of the ops it evaluates', () => {
    const ops = new Set(found.map((c) => c.name.replace(/^test_/, '').split('_')[0]));
    assert.ok(found.length >= 60, `${found.length} tests`);
    for (const op of ['add', 'mul', 'div', 'pow', 'sqrt', 'reciprocal', 'reduce', 'clip', 'reshape', 'unsqueeze', 'squeeze', 'expand', 'transpose', 'cast', 'max']) {
      assert.ok(ops.has(op), `a test of ${op}`);
    }
  });
  for (const c of found) {
    it(c.name, () => {
      const { model } = loadModelFile(path.join(c.dir, 'model.onnx'));
      const graph = model.graph;
      const set = path.join(c.dir, 'test_data_set_0');
      graph.inputs.forEach((input, i) => {
        const file = path.join(set, `input_${i}.pb`);
        if (!fs.existsSync(file)) return;
        const tensor = readTensorFile(file);
        tensor.name = input.name;
        graph.addInitializer(tensor);
      });
      const output = graph.nodes[0].output![0];
      const actual = new Evaluator(graph, model.opset()).value(output);
      const expected = tensorValue(readTensorFile(path.join(set, 'output_0.pb')));
      assert.deepEqual(actual.dims, expected.dims, 'dims');
      const half = expected.type === DataType.FLOAT16 || actual.type === DataType.FLOAT16;
      const c2 = compareValues(actual.data, expected.data, { rtol: half ? 1e-3 : 1e-5, atol: half ? 1e-3 : 1e-6 });
      assert.ok(c2.close, `${c2.bad} values differ (max abs ${c2.maxAbs}; at ${c2.worst}: ${actual.data[c2.worst]} vs ${expected.data[c2.worst]})`);
    });
  }
});
