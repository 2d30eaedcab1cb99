/**
 * `wn-onnx export-train-step`: the step graph and its start, run by a plain onnxruntime-node script
 * (test/helpers/plain-train-step.js, the README's, no wn-onnx import), train exactly as `wn-onnx
 * train` does: every trained tensor equal bit for bit, for Adam on the WN CNN and SGD on the CNN
 * with mean-only BN (its running means carried too).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { DataType } from '../src/onnx/enums';
import { loadModel, saveModel } from '../src/ir/model';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { floatTensor, readFloats } from '../src/tensor/values';
import { STEP_CONTRACT_KEY, type StepContract } from '../src/train/export-step';
import { assertOneLineError, cli, root } from './helpers/cli';
import { randomTensor, runtime } from './support';

const SCRIPT = path.join(root, 'test', 'helpers', 'plain-train-step.js');
const CASES = [
  { name: 'WN CNN, adam', convert: [], train: ['--optimizer', 'adam', '--lr', '0.002'] },
  { name: 'CNN with mean-only BN, sgd with momentum', convert: ['--mean-only-bn'], train: ['--optimizer', 'sgd', '--lr', '0.001', '--momentum', '0.9'] },
];

describe('export-train-step: the step graph trains from a plain onnxruntime-node script', function () {
  this.timeout(120_000);
  let work: string;
  const file = (name: string) => path.join(work, name);
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-export-step-'));
    const made = spawnSync(process.execPath, [path.join(root, 'dist', 'models', 'make-fashion-slice.js'),
      '--train', '300', '--test', '1', '--from', path.join(root, 'web', 'data'), '--to', file('rows')]);
    assert.equal(made.status, 0, made.stderr?.toString());
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));
  const images = () => file('rows/train-images-idx3-ubyte.gz');
  const labels = () => file('rows/train-labels-idx1-ubyte.gz');

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: three steps equal wn-onnx train's, bit for bit`, () => {
      const [model, init, step] = [`m${i}.onnx`, `m${i}-init.onnx`, `step${i}.onnx`].map(file);
      assert.equal(cli(['convert', path.join(root, 'models', 'cnn.onnx'), ...c.convert, '-o', model]).code, 0);
      assert.equal(cli(['init', model, '--data', images(), '--batch-size', '100', '-o', init]).code, 0);
      const exported = cli(['export-train-step', init, ...c.train, '--json', '-o', step]);
      assert.equal(exported.code, 0, exported.err);
      const contract = JSON.parse(exported.out) as StepContract;
      fs.writeFileSync(file(`step${i}.json`), exported.out);
      assert.equal(contract.start, `step${i}.start.onnx`);
      assert.deepEqual(JSON.parse(loadModel(fs.readFileSync(step)).proto.metadata_props!.find((p) => p.key === STEP_CONTRACT_KEY)!.value!), contract);
      assert.equal(contract.carried.filter((k) => k.role === 'running statistic').length, c.convert.length ? 4 : 0);

      const plain = spawnSync(process.execPath, [SCRIPT, step, file(`step${i}.json`), images(), labels(), '3'], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
      assert.equal(plain.status, 0, plain.stderr);
      const trainedByScript = JSON.parse(plain.stdout) as Record<string, number[]>;
      const train = cli(['train', init, '--data', images(), '--labels', labels(), '--no-shuffle', '--no-nchwc', '--epochs', '1', ...c.train, '-o', file(`t${i}.onnx`)]);
      assert.equal(train.code, 0, train.err);
      const trained = loadModel(fs.readFileSync(file(`t${i}.onnx`)));
      assert.ok(Object.keys(trainedByScript).length >= 12);
      for (const [name, values] of Object.entries(trainedByScript)) {
        const expected = readFloats(trained.graph.initializer(name)!);
        assert.deepEqual(Float32Array.from(values), Float32Array.from(expected), name);
      }
    });
  }

  it('lists dropout masks and batch-norm running statistics in the contract, and the step runs with them fed', async () => {
    const F = DataType.FLOAT;
    const model = makeModel({
      opset: 13, name: 'dropout-bn',
      inputs: [tensorInfo('x', F, ['batch', 6])], outputs: [tensorInfo('y', F, ['batch', 4])],
      initializers: [
        randomTensor('w', [4, 6], 1), randomTensor('b', [4], 2), randomTensor('scale', [4], 3), randomTensor('shift', [4], 4),
        floatTensor('mean', F, [4], new Float32Array(4)), floatTensor('var', F, [4], new Float32Array(4).fill(1)),
        floatTensor('ratio', F, [], Float32Array.of(0.25)),
      ],
      nodes: [
        makeNode('Gemm', ['x', 'w', 'b'], ['t'], { transB: 1 }, 'fc'),
        makeNode('BatchNormalization', ['t', 'scale', 'shift', 'mean', 'var'], ['n'], {}, 'bn'),
        makeNode('Dropout', ['n', 'ratio'], ['y'], {}, 'drop'),
      ],
    });
    fs.writeFileSync(file('dropout-bn.onnx'), saveModel(model));
    const exported = cli(['export-train-step', file('dropout-bn.onnx'), '--loss', 'mse', '--json', '-o', file('dropout-bn-step.onnx')]);
    assert.equal(exported.code, 0, exported.err);
    const contract = JSON.parse(exported.out) as StepContract;
    assert.deepEqual(contract.dropoutMasks.map((m) => [m.keep, m.dims]), [[0.75, [null, 4]]]);
    assert.deepEqual(contract.carried.filter((c) => c.role === 'running statistic').map((c) => c.input), ['mean', 'var']);
    const session = await runtime.InferenceSession.create(file('dropout-bn-step.onnx'));
    const start = await (await runtime.InferenceSession.create(file(contract.start))).run({});
    const feeds: Record<string, ort.Tensor> = { ...start,
      x: new runtime.Tensor('float32', Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)), [3, 6]),
      [contract.target.input]: new runtime.Tensor('float32', new Float32Array(12), [3, 4]),
      [contract.dropoutMasks[0].input]: new runtime.Tensor('float32', new Float32Array(12).fill(1 / 0.75), [3, 4]) };
    for (const s of contract.scalars) feeds[s.input] = new runtime.Tensor('float32', Float32Array.of(0.01), []);
    const out = await session.run(feeds);
    assert.ok(Number.isFinite(out[contract.loss].data[0] as number));
    const varOut = contract.carried.find((c) => c.input === 'var')!.output;
    assert.notDeepEqual(Array.from(out[varOut].data as Float32Array), [1, 1, 1, 1], 'the running variance moved');
  });

  it('is the script the README shows', () => {
    assert.ok(fs.readFileSync(path.join(root, 'README.md'), 'utf8').includes(`\`\`\`js\n${fs.readFileSync(SCRIPT, 'utf8')}\`\`\``));
  });

  it('refuses standard output and an output that is its input, in one line', () => {
    assertOneLineError(cli(['export-train-step', file('m0-init.onnx'), '-o', '-']), /writes two files/);
    assertOneLineError(cli(['export-train-step', file('m0-init.onnx'), '-o', file('m0-init.onnx')]), /input/);
  });
});
