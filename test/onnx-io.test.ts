/** Model I/O: lossless round trips (IR 10+ fields, unknown fields), external data, atomic writes. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Long from 'long';
import { decodeModel, encodeModel } from '../src/onnx/codec';
import { AttributeType, DataLocation, DataType } from '../src/onnx/enums';
import type { ModelProto } from '../src/onnx/proto';
import { Model } from '../src/ir/model';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { loadModelFile, saveModelFile } from '../src/node/model-file';
import { convert } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { int64Tensor } from '../src/tensor/values';
import { assertSameOutputs, copyModel, feedsFor, initializerValues, randomTensor } from './support';

const meta = (key: string, value: string) => ({ key, value });

/** A model that uses what current ONNX defines beyond IR 8. */
function richModel(): ModelProto {
  const model = makeModel({
    opset: 21,
    irVersion: 11,
    inputs: [tensorInfo('x', DataType.FLOAT, ['batch', 4])],
    outputs: [tensorInfo('y', DataType.FLOAT, ['batch', 4])],
    initializers: [randomTensor('W', [4, 4], 1), int64Tensor('ends', [Number.MAX_SAFE_INTEGER])],
    nodes: [
      makeNode('MatMul', ['x', 'W'], ['h']),
      { ...makeNode('Scale2', ['h'], ['y']), domain: 'local', overload: 'v1', metadata_props: [meta('node', 'meta')], doc_string: 'node doc' },
    ],
  }).proto;
  model.opset_import!.push({ domain: 'local', version: Long.fromNumber(1) });
  model.doc_string = 'model doc';
  model.metadata_props = [meta('author', 'wn-onnx tests')];
  model.configuration = [{ name: 'mesh', num_devices: 2, device: ['gpu0', 'gpu1'] }];
  const graph = model.graph!;
  graph.metadata_props = [meta('graph', 'meta')];
  graph.doc_string = 'graph doc';
  graph.value_info = [{ ...tensorInfo('h', DataType.FLOAT, ['batch', 4]), metadata_props: [meta('vi', 'meta')] }];
  graph.quantization_annotation = [{ tensor_name: 'h', quant_parameter_tensor_names: [meta('SCALE_TENSOR', 's')] }];
  graph.sparse_initializer = [{ values: randomTensor('sp', [2], 2), indices: int64Tensor('sp_idx', [1, 3]), dims: [Long.fromNumber(4)] }];
  // an int64 beyond 2^53 (INT64_MAX, as Slice ends use) in int64_data must survive exactly
  graph.initializer!.push({ name: 'big', data_type: DataType.INT64, dims: [Long.fromNumber(1)], int64_data: [Long.MAX_VALUE] });
  model.functions = [{
    name: 'Scale2', domain: 'local', overload: 'v1', input: ['a'], output: ['b'], attribute: [],
    attribute_proto: [{ name: 'factor', type: AttributeType.FLOAT, f: 2 }],
    opset_import: [{ domain: '', version: Long.fromNumber(21) }],
    node: [makeNode('Add', ['a', 'a'], ['b'])],
    value_info: [tensorInfo('b', DataType.FLOAT, [4])],
    metadata_props: [meta('fn', 'meta')],
    doc_string: 'function doc',
  }];
  model.training_info = [{ algorithm: { name: 'step', node: [] }, update_binding: [meta('W', 'W_new')] }];
  return model;
}

/** Decoded messages as plain data (protobufjs messages carry their own prototypes). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value));

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-test-'));
}

describe('ONNX I/O', () => {
  it('round-trips IR 10+ fields byte for byte and field for field', () => {
    const bytes = encodeModel(richModel());
    const decoded = decodeModel(bytes);
    assert.deepEqual(encodeModel(decoded), bytes);
    assert.equal(decoded.graph!.node![1].overload, 'v1');
    assert.deepEqual(plain(decoded.graph!.node![1].metadata_props), [meta('node', 'meta')]);
    assert.equal(decoded.functions![0].attribute_proto![0].f, 2);
    assert.deepEqual(plain(decoded.configuration), plain(richModel().configuration));
    assert.equal(Long.fromValue(decoded.graph!.initializer![2].int64_data![0]).toString(), '9223372036854775807');
    assert.equal(decoded.graph!.value_info![0].metadata_props![0].value, 'meta');
    assert.equal(decoded.training_info![0].update_binding![0].value, 'W_new');
  });

  it('keeps fields its schema does not know, at any depth', () => {
    const unknownField = Uint8Array.of(0x98, 0x06, 0x2a); // field 99, varint 42
    const model = richModel();
    model.graph!.node![0].$unknowns = [unknownField];
    const bytes = Buffer.concat([encodeModel(model), unknownField]);
    const decoded = decodeModel(bytes);
    assert.deepEqual([...decoded.$unknowns![0]], [...unknownField]);
    assert.deepEqual([...decoded.graph!.node![0].$unknowns![0]], [...unknownField]);
    const again = decodeModel(encodeModel(decoded));
    assert.deepEqual([...again.$unknowns![0]], [...unknownField]);
    assert.deepEqual([...again.graph!.node![0].$unknowns![0]], [...unknownField]);
    assert.deepEqual(encodeModel(again), encodeModel(decoded));
  });

  it('refuses garbage, truncated and non-ONNX bytes with one-line errors', () => {
    const bytes = encodeModel(richModel());
    assert.throws(() => decodeModel(bytes.subarray(0, bytes.length - 7)), /malformed or truncated/);
    assert.throws(() => decodeModel(new TextEncoder().encode('hello, this is not a model')), /not (a valid )?ONNX model/);
    assert.throws(() => decodeModel(Uint8Array.from({ length: 256 }, (_, i) => (i * 37) & 0xff)), /ONNX model/);
  });

  describe('external data', () => {
    function externalModel(dir: string): string {
      const model = makeModel({
        opset: 13, inputs: [tensorInfo('x', DataType.FLOAT, [2, 8])], outputs: [tensorInfo('y', DataType.FLOAT, [2, 8])],
        initializers: [randomTensor('W1', [8, 8], 3), randomTensor('W2', [8, 8], 4), randomTensor('b', [8], 5)],
        nodes: [makeNode('MatMul', ['x', 'W1'], ['h']), makeNode('MatMul', ['h', 'W2'], ['h2']), makeNode('Add', ['h2', 'b'], ['y'])],
      });
      const file = path.join(dir, 'model.onnx');
      saveModelFile(model, file, { externalThreshold: 100, defaultLocation: 'weights.bin' });
      return file;
    }

    it('writes, reads and runs tensors in external files, keeping the input layout by default', async () => {
      const dir = tempDir();
      const file = externalModel(dir);
      assert.ok(fs.existsSync(path.join(dir, 'weights.bin')));
      const loaded = loadModelFile(file);
      assert.equal(loaded.model.graph.initializer('W1')!.data_location, DataLocation.EXTERNAL);
      assert.equal(loaded.model.graph.initializer('b')!.data_location ?? 0, DataLocation.DEFAULT);
      const original = copyModel(loaded.model);
      const before = fs.readFileSync(path.join(dir, 'weights.bin'));

      convert(loaded.model);
      const out = path.join(dir, 'wn.onnx');
      saveModelFile(loaded.model, out, { inputFiles: loaded.files });
      // the input's external file is untouched; the output's went to a file of its own
      assert.deepEqual(fs.readFileSync(path.join(dir, 'weights.bin')), before);
      const converted = loadModelFile(out);
      assert.ok(converted.files.has(path.join(dir, 'wn.onnx.data')));
      assert.equal(converted.model.graph.initializer('W1_v')!.data_location, DataLocation.EXTERNAL);
      await assertSameOutputs(original, copyModel(converted.model), feedsFor(original));

      // ONNX Runtime reads our external layout from the path itself
      fold(converted.model);
      const sub = path.join(dir, 'out');
      fs.mkdirSync(sub);
      saveModelFile(converted.model, path.join(sub, 'folded.onnx'), { inputFiles: converted.files });
      const folded = loadModelFile(path.join(sub, 'folded.onnx'));
      assert.ok(folded.files.has(path.join(sub, 'wn.onnx.data')));
      await assertSameOutputs(original, copyModel(folded.model), feedsFor(original));
    });

    it('externalizes the largest tensors when the model would pass the inline limit', () => {
      const dir = tempDir();
      const model = loadModelFile(externalModel(dir)).model;
      for (const t of model.graph.initializers) delete t.data_location;
      const out = path.join(dir, 'limited.onnx');
      saveModelFile(model, out, { maxInlineBytes: 200 });
      const reloaded = loadModelFile(out).model;
      const external = reloaded.graph.initializers.filter((t) => t.data_location === DataLocation.EXTERNAL).map((t) => t.name);
      assert.deepEqual(external.sort(), ['W1', 'W2']);
      assert.deepEqual([...initializerValues(reloaded, 'W1')], [...initializerValues(model, 'W1')]);
    });

    it('refuses locations outside the model folder, and missing or short files', () => {
      const dir = tempDir();
      const file = externalModel(dir);
      const proto = decodeModel(fs.readFileSync(file));
      const setLocation = (location: string, length?: string) => {
        const entries = proto.graph!.initializer![0].external_data!;
        entries.find((e) => e.key === 'location')!.value = location;
        if (length) entries.find((e) => e.key === 'length')!.value = length;
        const bad = path.join(dir, 'bad.onnx');
        fs.writeFileSync(bad, encodeModel(proto));
        return bad;
      };
      assert.throws(() => loadModelFile(setLocation('../weights.bin')), /points outside the model's folder/);
      assert.throws(() => loadModelFile(setLocation('/etc/passwd')), /points outside the model's folder/);
      fs.symlinkSync('/etc/hostname', path.join(dir, 'link.bin'));
      assert.throws(() => loadModelFile(setLocation('link.bin')), /resolves outside the model's folder/);
      assert.throws(() => loadModelFile(setLocation('missing.bin')), /external data file "missing.bin".*does not exist/);
      assert.throws(() => loadModelFile(setLocation('weights.bin', '1000000')), /its external data length is 1000000 bytes, but \[8, 8\] of FLOAT takes 256/);
      fs.writeFileSync(path.join(dir, 'short.bin'), fs.readFileSync(path.join(dir, 'weights.bin')).subarray(0, 100));
      assert.throws(() => loadModelFile(setLocation('short.bin', '256')), /ends before byte \d+, but the tensor needs bytes/);
    });
  });

  it('writes atomically: no output file when writing fails, input never touched', () => {
    const dir = tempDir();
    const file = path.join(dir, 'm.onnx');
    const model = new Model(richModel());
    saveModelFile(model, file);
    const before = fs.readFileSync(file);
    assert.throws(() => saveModelFile(model, path.join(dir, 'missing', 'out.onnx')), /folder .* does not exist/);
    assert.throws(() => saveModelFile(model, file, { inputFiles: new Set([file]) }), /refusing to overwrite an input/);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['m.onnx']);
  });
});
