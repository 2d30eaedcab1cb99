/**
 * Models stored with external data, end to end: the bundled CNN as ONNX's Python package saves
 * it with every tensor external (test/fixtures/make_external_fixtures.py) goes through every
 * command and gives what the inline model gives; the door hands large payloads to ONNX Runtime
 * as views (no copy) and refuses external data that was never loaded.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump } from 'npyjs';
import { DataType } from '../src/onnx/enums';
import { isExternal } from '../src/onnx/external';
import { decodeModel } from '../src/onnx/codec';
import { Model } from '../src/ir/model';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { readFloats } from '../src/tensor/values';
import { seededRandom } from '../src/tensor/random';
import { runModel, sessionModel } from '../src/runtime/session';
import { loadModelFile } from '../src/node/model-file';
import { assertClose, randomTensor, runtime } from './support';
import { cli, root } from './helpers/cli';

const FIXTURE = path.join(root, 'test', 'fixtures', 'external');

/** Every initializer of a model file, by name, as numbers. */
function initializerValues(file: string): Map<string, number[]> {
  const { model } = loadModelFile(file);
  return new Map(model.graph.initializers.map((t) => [t.name ?? '', Array.from(readFloats(t))]));
}

function externalCount(file: string): number {
  const proto = decodeModel(fs.readFileSync(file));
  return (proto.graph?.initializer ?? []).filter(isExternal).length;
}

describe('models with external data', () => {
  let dir: string;
  let x: string;
  let y: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-external-'));
    const random = seededRandom(5);
    x = path.join(dir, 'x.npy');
    y = path.join(dir, 'y.npy');
    fs.writeFileSync(x, Buffer.from(dump(Float32Array.from({ length: 96 * 784 }, () => random()), [96, 1, 28, 28])));
    fs.writeFileSync(y, Buffer.from(dump(BigInt64Array.from({ length: 96 }, (_, i) => BigInt(i % 10)), [96])));
    for (const form of ['inline', 'external']) fs.mkdirSync(path.join(dir, form));
    fs.copyFileSync(path.join(root, 'models', 'cnn.onnx'), path.join(dir, 'inline', 'cnn.onnx'));
    for (const f of ['cnn.onnx', 'cnn.onnx.data']) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, 'external', f));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('convert, inspect, verify, init, train and fold on a model saved all-external give the inline model\'s numbers', async function () {
    this.timeout(120000);
    const results: Record<string, { inspect: string; verify: string; init: string; files: Record<string, string> }> = {};
    for (const form of ['inline', 'external']) {
      const at = (name: string) => path.join(dir, form, name);
      const ok = (args: string[]) => {
        const result = cli(args);
        assert.equal(result.code, 0, `${form}: wn-onnx ${args.join(' ')}\n${result.err}`);
        return result;
      };
      ok(['convert', at('cnn.onnx'), '-o', at('wn.onnx')]);
      const inspect = ok(['inspect', at('wn.onnx'), '--json']).out;
      const verify = ok(['verify', at('cnn.onnx'), at('wn.onnx'), '--dim', 'batch=4']).out;
      const init = ok(['init', at('wn.onnx'), '--data', x, '--batch-size', '64', '--json', '-o', at('init.onnx')]).err;
      ok(['train', at('init.onnx'), '--data', x, '--labels', y, '--epochs', '1', '--batch-size', '32', '-o', at('trained.onnx')]);
      ok(['fold', at('trained.onnx'), '-o', at('folded.onnx')]);
      results[form] = { inspect, verify, init, files: { wn: at('wn.onnx'), init: at('init.onnx'), trained: at('trained.onnx'), folded: at('folded.onnx') } };
    }
    const [inline, external] = [results.inline, results.external];
    assert.equal(external.inspect, inline.inspect, 'inspect');
    assert.equal(external.verify, inline.verify, 'verify');
    assert.equal(external.init, inline.init, 'init report');
    for (const stage of ['wn', 'init', 'trained', 'folded']) {
      assert.equal(externalCount(inline.files[stage]), 0, `inline ${stage}: no external data`);
      assert.ok(externalCount(external.files[stage]) > 0, `external ${stage}: written in the input's layout, with external data`);
      assert.deepEqual(initializerValues(external.files[stage]), initializerValues(inline.files[stage]), `${stage}: the same values`);
    }
  });

  it('the door hands payloads of 64 KiB or more to ONNX Runtime as views of their own buffers', async () => {
    const big = randomTensor('big', [128, 256], 1);
    const small = randomTensor('small', [256, 4], 2);
    const model = makeModel({
      opset: 13,
      inputs: [tensorInfo('x', DataType.FLOAT, [2, 128])],
      outputs: [tensorInfo('y', DataType.FLOAT, [2, 4])],
      nodes: [makeNode('MatMul', ['x', 'big'], ['h']), makeNode('MatMul', ['h', 'small'], ['y'])],
      initializers: [big, small],
    });
    const { bytes, externalData } = sessionModel(model);
    assert.equal(externalData.length, 1);
    assert.equal(externalData[0].data.buffer, big.raw_data!.buffer, 'no copy of the payload');
    assert.ok(bytes.length < big.raw_data!.length, 'the large payload is not inline');
    const stored = decodeModel(bytes).graph!.initializer!;
    assert.deepEqual(stored.map(isExternal), [true, false], 'only the large initializer is external');

    const xs = new runtime.Tensor('float32', Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), [2, 128]);
    const y = (await runModel(runtime, model, { x: xs })).y.data as Float32Array;
    const [w1, w2] = [readFloats(big), readFloats(small)];
    const expected = new Float64Array(8);
    for (let r = 0; r < 2; r++) {
      for (let o = 0; o < 4; o++) {
        for (let k = 0; k < 256; k++) {
          let h = 0;
          for (let i = 0; i < 128; i++) h += Number(xs.data[r * 128 + i]) * w1[i * 256 + k];
          expected[r * 4 + o] += h * w2[k * 4 + o];
        }
      }
    }
    assertClose(y, expected, 1e-4, 1e-5, 'y');
  });

  it('external data that was never loaded is a clear error, not a runtime failure', async () => {
    const proto = decodeModel(fs.readFileSync(path.join(FIXTURE, 'cnn.onnx')));
    await assert.rejects(runModel(runtime, new Model(proto), {}), /stored in external data "cnn\.onnx\.data" that was not loaded/);
  });
});
