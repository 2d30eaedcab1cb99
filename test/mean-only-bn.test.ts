/**
 * Mean-only batch normalization (convert --mean-only-bn) end to end: the converted model computes
 * what the original did; init gives the inference output WN's init gives (b = 0, running mean
 * μ·g); train → fold keeps the trained model's outputs; a MatMul without a bias gets one; the
 * running means never train; a damaged mark is one line. Steps against PyTorch: train-pytorch.test.ts.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataType } from '../src/onnx/enums';
import { loadModel, saveModel } from '../src/ir/model';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { readFloats } from '../src/tensor/values';
import { convert } from '../transforms/weight-norm';
import { fold } from '../transforms/fold';
import { inspectModel } from '../src/wn/inspect';
import { assertClose, copyModel, feedsFor, randomTensor, run, runtime } from './support';
import { Trainer } from '../src/train/trainer';
import { assertOneLineError, cli, root } from './helpers/cli';

const CNN = path.join(root, 'models', 'cnn.onnx');
const IMAGES = path.join(root, 'web', 'data', 'train-images-idx3-ubyte.gz');
const LABELS = path.join(root, 'web', 'data', 'train-labels-idx1-ubyte.gz');

describe('mean-only batch normalization', function () {
  this.timeout(120_000);
  let work: string;
  const file = (name: string) => path.join(work, name);
  before(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-mean-only-')); });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('converts every feed-forward layer; the model computes what it did; fold gives the original ops', async () => {
    const original = loadModel(fs.readFileSync(CNN));
    const { model, report } = convert(copyModel(original), { meanOnlyBn: true });
    assert.deepEqual(report.meanOnlyBn!.added.map((m) => [m.layer, m.bias, m.featureAxis]), [
      ['conv1', 'conv1.bias', 1], ['conv2', 'conv2.bias', 1], ['fc1', 'fc1.bias', -1], ['fc2', 'fc2.bias', -1],
    ]);
    const feeds = feedsFor(original, 3, { batch: 4 });
    const [before, after] = [await run(original, feeds), await run(model, feeds)];
    assertClose(after.logits.data as Float32Array, before.logits.data as Float32Array, 1e-4, 1e-5, 'logits');
    assert.ok(inspectModel(model).every((l) => l.meanOnlyBn?.values?.max === 0), 'running means start at 0');
    const { model: folded, report: folding } = fold(loadModel(saveModel(model)));
    assert.equal(folding.meanOnlyBn.length, 4);
    assert.deepEqual(folded.graph.nodes.map((n) => n.op_type), original.graph.nodes.map((n) => n.op_type));
    assert.deepEqual(folded.graph.initializers.map((t) => t.name).sort(), original.graph.initializers.map((t) => t.name).sort());
  });

  it('gives a MatMul without a bias a zero one, and a model with mean-only BN none twice', () => {
    const model = makeModel({
      opset: 17, name: 'matmul',
      inputs: [tensorInfo('x', DataType.FLOAT, ['batch', 5, 6])], outputs: [tensorInfo('y', DataType.FLOAT, ['batch', 5, 3])],
      initializers: [randomTensor('w', [6, 3], 1)],
      nodes: [makeNode('MatMul', ['x', 'w'], ['y'], {}, 'project')],
    });
    const { report } = convert(model, { meanOnlyBn: true });
    assert.deepEqual(report.meanOnlyBn!.biases.added, [{ node: 'project', bias: 'w_bias' }]);
    assert.equal(report.meanOnlyBn!.added[0].featureAxis, -1);
    const again = convert(model, { meanOnlyBn: true }).report.meanOnlyBn!;
    assert.deepEqual(again.added, []);
  });

  it('names an unnamed layer by its weight, so its mark reads back', () => {
    const model = loadModel(fs.readFileSync(CNN));
    for (const node of model.graph.nodes) node.name = '';
    const { report } = convert(model, { meanOnlyBn: true });
    assert.deepEqual(report.meanOnlyBn!.added.map((m) => m.layer), ['conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight']);
    const saved = loadModel(saveModel(model));
    assert.equal(inspectModel(saved).filter((l) => l.meanOnlyBn).length, 4);
    assert.equal(fold(saved).report.meanOnlyBn.length, 4);
  });

  it('takes a bias that reaches the layer through Identity nodes, and trains it', async () => {
    const model = makeModel({
      opset: 13, name: 'identity-bias',
      inputs: [tensorInfo('x', DataType.FLOAT, ['batch', 6])], outputs: [tensorInfo('y', DataType.FLOAT, ['batch', 4])],
      initializers: [randomTensor('w', [4, 6], 2), randomTensor('b', [4], 3)],
      nodes: [makeNode('Identity', ['b'], ['b1']), makeNode('Identity', ['b1'], ['b2']), makeNode('Gemm', ['x', 'w', 'b2'], ['y'], { transB: 1 }, 'fc')],
    });
    const feeds = feedsFor(model, 5, { batch: 3 });
    const before = await run(model, feeds);
    const { report } = convert(model, { meanOnlyBn: true });
    assert.deepEqual(report.meanOnlyBn!.added.map((m) => m.bias), ['b']);
    assert.deepEqual(model.graph.nodes.filter((n) => n.op_type === 'Identity'), [], 'the Identity chain is gone');
    assertClose((await run(model, feeds)).y.data as Float32Array, before.y.data as Float32Array, 1e-5, 1e-6, 'y');
    const trainer = await Trainer.create(model, [feeds], { runtime, loss: 'mse', optimizer: { kind: 'sgd' } });
    const target = new runtime.Tensor('float32', new Float32Array(12), [3, 4]);
    const { loss } = await trainer.step(feeds, target, { lr: 0.1 });
    assert.ok(Number.isFinite(loss));
    assert.ok(trainer.graph.parameters.includes('b') && !trainer.graph.parameters.includes('b_running_mean'));
    await trainer.release();
  });

  it('init gives the inference output of WN\'s init, with b = 0 and the running mean holding the shift', () => {
    assert.equal(cli(['convert', CNN, '-o', file('wn.onnx')]).code, 0);
    assert.equal(cli(['convert', CNN, '--mean-only-bn', '-o', file('mob.onnx')]).code, 0);
    for (const name of ['wn', 'mob']) {
      const init = cli(['init', file(`${name}.onnx`), '--data', IMAGES, '--batch-size', '100', '-o', file(`${name}-init.onnx`)]);
      assert.equal(init.code, 0, init.err);
    }
    const initialized = loadModel(fs.readFileSync(file('mob-init.onnx')));
    assert.ok(readFloats(initialized.graph.initializer('fc1.bias')!).every((b) => b === 0), 'b = 0');
    assert.ok(readFloats(initialized.graph.initializer('fc1.bias_running_mean')!).some((m) => m !== 0), 'running mean set');
    const verify = cli(['verify', file('wn-init.onnx'), file('mob-init.onnx'), '--dim', 'batch=8']);
    assert.equal(verify.code, 0, verify.err);
  });

  it('trains (running means updated, never trained) and folds to a model with the trained outputs', () => {
    const train = cli(['train', file('mob-init.onnx'), '--data', IMAGES, '--labels', LABELS, '--epochs', '1', '--bn-momentum', '0.2',
      '--input-noise', '10', '--json', '-o', file('mob-trained.onnx')]);
    assert.equal(train.code, 0, train.err);
    assert.doesNotMatch(train.err, /not trained/);
    const [start, trained] = ['mob-init.onnx', 'mob-trained.onnx'].map((f) => loadModel(fs.readFileSync(file(f))));
    const mean = (m: typeof start) => readFloats(m.graph.initializer('conv2.bias_running_mean')!);
    assert.notDeepEqual(mean(trained), mean(start));
    assert.equal(cli(['fold', file('mob-trained.onnx'), '-o', file('mob-folded.onnx')]).code, 0);
    const verify = cli(['verify', file('mob-trained.onnx'), file('mob-folded.onnx'), '--dim', 'batch=8']);
    assert.equal(verify.code, 0, verify.err);
  });

  it('refuses a damaged mark and a bad --bn-momentum in one line', () => {
    const model = loadModel(fs.readFileSync(file('mob.onnx')));
    const marked = model.graph.nodes.find((n) => n.doc_string?.startsWith('wn-onnx mean_only_bn'))!;
    marked.doc_string = marked.doc_string!.replace('"featureAxis":1', '"featureAxis":7');
    fs.writeFileSync(file('damaged.onnx'), saveModel(model));
    assertOneLineError(cli(['fold', file('damaged.onnx'), '-o', file('x.onnx')]), /mean_only_bn mark is damaged/);
    assertOneLineError(cli(['train', file('mob.onnx'), '--data', IMAGES, '--labels', LABELS, '--bn-momentum', '1.5', '-o', file('x.onnx')]),
      /--bn-momentum takes a number from 0 to 1/);
  });
});
