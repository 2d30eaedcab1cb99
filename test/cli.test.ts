/** The wn-onnx command line, run as a user runs it: exit codes, one-line errors, no partial output. */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump } from 'npyjs';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { saveModelFile } from '../src/node/model-file';
import { randomTensor } from './support';
import { assertOneLineError, cli, root, webgpuEnv } from './helpers/cli';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('wn-onnx CLI', () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-cli-')); });

  for (const name of ['mlp', 'cnn', 'lstm']) {
    it(`convert, verify, fold, verify the bundled ${name} model`, () => {
      const input = path.join(root, 'models', `${name}.onnx`);
      const before = sha(input);
      const wn = path.join(dir, `${name}_wn.onnx`);
      const folded = path.join(dir, `${name}_folded.onnx`);
      const convert = cli(['convert', input, '-o', wn]);
      assert.equal(convert.code, 0, convert.err);
      assert.match(convert.err, /weights converted, 0 layer inputs skipped/);
      const seq = (n: number) => (name === 'lstm' ? ['--dim', `seq=${n}`] : []);
      const verify = cli(['verify', input, wn, '--dim', 'batch=3', ...seq(5)]);
      assert.equal(verify.code, 0, verify.out + verify.err);
      assert.match(verify.out, /^match/m);
      assert.equal(cli(['fold', wn, '-o', folded]).code, 0);
      assert.equal(cli(['verify', input, folded, '--dim', 'batch=2', ...seq(3)]).code, 0);
      assert.equal(fs.statSync(folded).size, fs.statSync(input).size);
      assert.equal(sha(input), before, 'input unchanged');
      const inspect = cli(['inspect', wn]);
      assert.match(inspect.out, /layer weights, \d+ weight-normalized/);
      assert.doesNotMatch(inspect.out, / 0 weight-normalized/);
    });
  }

  it('works in a pipeline: "-" reads standard input and writes standard output', () => {
    const model = fs.readFileSync(path.join(root, 'models', 'mlp.onnx'));
    const converted = cli(['convert', '-', '-o', '-'], model);
    assert.equal(converted.code, 0, converted.err);
    const folded = cli(['fold', '-', '-o', '-'], converted.stdout);
    assert.equal(folded.code, 0, folded.err);
    assert.equal(folded.stdout.length, model.length);
    const inspect = cli(['inspect', '-'], converted.stdout);
    assert.match(inspect.out, /3 layer weights, 3 weight-normalized/);
    const verify = cli(['verify', path.join(root, 'models', 'mlp.onnx'), '-'], converted.stdout);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /^match/m);
    assertOneLineError(cli(['verify', '-', '-'], model), /only one of the two models can come from standard input/);
  });

  it('shows the flags where the library names its options', () => {
    const out = path.join(dir, 'flags.onnx');
    const result = cli(['convert', path.join(root, 'models', 'mlp.onnx'), '-o', out, '--exclude', '^fc1']);
    assert.equal(result.code, 0, result.err);
    assert.match(result.err, /excluded by --exclude \^fc1/);
    assert.doesNotMatch(result.err, /`exclude`/);
  });

  it('weight norm an exporter wrote: inspect shows it, fold --json names its form, convert adopts it', () => {
    const exported = path.join(root, 'test', 'fixtures', 'foreign-wn', 'tcn_opset13.onnx');
    const inspect = cli(['inspect', exported]);
    assert.match(inspect.out, /foreign-weight-norm \(pytorch\)/);
    assert.match(inspect.out, /6 layer weights, 0 weight-normalized, 5 weight-normalized by the exporter/);
    const folded = cli(['fold', exported, '-o', path.join(dir, 'tcn_folded.onnx'), '--json']);
    assert.equal(folded.code, 0, folded.err);
    const report = JSON.parse(folded.out) as { folded: { weight: string; form: string }[] };
    assert.deepEqual(report.folded.map((f) => `${f.weight} ${f.form}`).sort(),
      ['blocks.0.net.0.weight', 'blocks.0.net.4.weight', 'blocks.1.net.0.weight', 'blocks.1.net.4.weight', 'head.weight'].map((w) => `${w} pytorch`));
    const converted = cli(['convert', exported, '-o', path.join(dir, 'tcn_wn.onnx')]);
    assert.equal(converted.code, 0, converted.err);
    assert.match(converted.err, /converted head\.weight \(Gemm "\/head\/Gemm"\): g head\.weight_g \[1,1\], v head\.weight_v \(adopted: weight norm as pytorch wrote it\)/);
    assert.match(converted.err, /6 weights converted/);
  });

  it('--in-place rewrites the input only when asked (with --fsync: flushed, no temporary left)', () => {
    const folder = fs.mkdtempSync(path.join(dir, 'inplace-'));
    const file = path.join(folder, 'inplace.onnx');
    fs.copyFileSync(path.join(root, 'models', 'mlp.onnx'), file);
    assertOneLineError(cli(['convert', file, '-o', file]), /refusing to overwrite an input/);
    assert.equal(cli(['convert', file, '--in-place', '--fsync']).code, 0);
    assert.match(cli(['inspect', file]).out, /3 weight-normalized/);
    assert.deepEqual(fs.readdirSync(folder), ['inplace.onnx']);
  });

  describe('bad input: a one-line error and no output file', () => {
    const out = () => path.join(dir, 'never.onnx');
    afterEach(() => assert.ok(!fs.existsSync(out()), 'no output file written'));

    it('missing input file', () => assertOneLineError(cli(['convert', path.join(dir, 'nope.onnx'), '-o', out()]), /does not exist/));
    it('empty file', () => {
      const file = path.join(dir, 'empty.onnx');
      fs.writeFileSync(file, '');
      assertOneLineError(cli(['convert', file, '-o', out()]), /is empty, not an ONNX model/);
    });
    it('truncated model', () => {
      const file = path.join(dir, 'truncated.onnx');
      const bytes = fs.readFileSync(path.join(root, 'models', 'cnn.onnx'));
      fs.writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
      assertOneLineError(cli(['convert', file, '-o', out()]), /malformed or truncated/);
    });
    it('a file that is not ONNX', () => {
      const file = path.join(dir, 'readme.onnx');
      fs.writeFileSync(file, '# not a model\nhello\n');
      assertOneLineError(cli(['fold', file, '-o', out()]), /not (a valid )?(an )?ONNX model/);
    });
    it('opset 6', () => {
      const file = path.join(dir, 'opset6.onnx');
      saveModelFile(makeModel({
        opset: 6, irVersion: 3, inputs: [tensorInfo('x', DataType.FLOAT, [1, 4])], outputs: [tensorInfo('y', DataType.FLOAT, [1, 4])],
        initializers: [randomTensor('W', [4, 4], 1)], nodes: [makeNode('MatMul', ['x', 'W'], ['y'])],
      }), file);
      assertOneLineError(cli(['convert', file, '-o', out()]), /opset 6; wn-onnx needs opset 7 or newer/);
    });
    it('output folder missing', () => {
      assertOneLineError(cli(['convert', path.join(root, 'models', 'mlp.onnx'), '-o', path.join(dir, 'no', 'such', 'dir.onnx')]), /folder .* does not exist/);
    });
    it('no output given', () => assertOneLineError(cli(['convert', path.join(root, 'models', 'mlp.onnx')]), /no output: pass -o OUT/));
    it('unknown op in --ops', () => {
      const result = cli(['convert', path.join(root, 'models', 'mlp.onnx'), '-o', out(), '--ops', 'Conv,Dense']);
      assert.notEqual(result.code, 0);
      assert.match(result.err, /unsupported op Dense/);
    });
    it('verify: data of the wrong shape names the input and both shapes', () => {
      const npy = path.join(dir, 'wrong.npy');
      fs.writeFileSync(npy, Buffer.from(dump(new Float32Array(6), [2, 3])));
      const model = path.join(root, 'models', 'mlp.onnx');
      assertOneLineError(cli(['verify', model, model, '--data', npy]), /input "input" expects shape \[batch,784\], the data has shape \[2,3\]/);
    });
    it('verify --ep cuda without the CUDA provider says how to install it', () => {
      const model = path.join(root, 'models', 'mlp.onnx');
      assertOneLineError(cli(['verify', model, model, '--ep', 'cuda']), /--ep cuda: .*--onnxruntime-node-install=cuda12/);
    });
  });

  it('verify with .npy data, and a mismatch exits 1', () => {
    const npy = path.join(dir, 'batch.npy');
    fs.writeFileSync(npy, Buffer.from(dump(Float32Array.from({ length: 2 * 784 }, (_, i) => Math.sin(i)), [2, 784])));
    const mlp = path.join(root, 'models', 'mlp.onnx');
    const wn = path.join(dir, 'mlp_for_data.onnx');
    assert.equal(cli(['convert', mlp, '-o', wn]).code, 0);
    assert.equal(cli(['verify', mlp, wn, '--data', npy]).code, 0);
    const other = path.join(dir, 'other.onnx');
    assert.equal(cli(['convert', path.join(root, 'models', 'mlp.onnx'), '-o', other, '--eps', '1e3']).code, 0);
    const mismatch = cli(['verify', mlp, other, '--data', `input=${npy}`]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.out, /MISMATCH/);
  });

  describe('init', () => {
    const images = path.join(process.env.FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist', 't10k-images-idx3-ubyte.gz');
    const cnn = path.join(root, 'models', 'cnn.onnx');
    const out = () => path.join(dir, 'init-never.onnx');
    let wn: string;
    before(() => {
      wn = path.join(dir, 'cnn_for_init.onnx');
      assert.equal(cli(['convert', cnn, '-o', wn]).code, 0);
    });
    const npy = (name: string, values: Float32Array | Float64Array, shape: number[]) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, Buffer.from(dump(values, shape)));
      return file;
    };

    it('convert --init on Fashion-MNIST images (gzipped IDX, uint8 [N, 28, 28] into [N, 1, 28, 28]); init of a WN model', () => {
      const converted = path.join(dir, 'cnn_init.onnx');
      const result = cli(['convert', cnn, '--init', images, '--batch-size', '64', '-o', converted]);
      assert.equal(result.code, 0, result.err);
      assert.match(result.err, /init: batch of 64 rows, 4 layers, one pass/);
      assert.match(result.err, /4 layers initialized in 1 ONNX Runtime run/);
      const again = path.join(dir, 'cnn_init2.onnx');
      const init = cli(['init', wn, '--data', `input=${images}`, '--batch-size', '64', '-o', again, '--json']);
      assert.equal(init.code, 0, init.err);
      const report = JSON.parse(init.out);
      assert.equal(report.layers.length, 4);
      assert.equal(report.runs, 1);
      assert.deepEqual(fs.readFileSync(again), fs.readFileSync(converted), 'the same batch gives the same model');
    });

    it('a plain model is refused with what to do', () => {
      assertOneLineError(cli(['init', cnn, '--data', images, '-o', out()]), /no weight-normalized layers: convert it first/);
      assert.ok(!fs.existsSync(out()));
    });

    describe('bad data: a one-line error and no output file', () => {
      afterEach(() => assert.ok(!fs.existsSync(out()), 'no output file written'));
      it('wrong shape', () => {
        assertOneLineError(cli(['init', wn, '--data', npy('wrong-shape.npy', new Float32Array(8 * 20), [8, 20]), '-o', out()]), /input "input" expects shape \[batch,1,28,28\], the data has shape \[8,20\]/);
      });
      it('empty file', () => {
        const empty = path.join(dir, 'empty.npy');
        fs.writeFileSync(empty, '');
        assertOneLineError(cli(['init', wn, '--data', empty, '-o', out()]), /empty\.npy: the file is empty/);
      });
      it('NaN in the batch', () => {
        const values = new Float32Array(4 * 784);
        values[784 * 2 + 5] = NaN;
        assertOneLineError(cli(['init', wn, '--data', npy('nan.npy', values, [4, 1, 28, 28]), '-o', out()]), /row 2 of the data for input "input" holds NaN/);
      });
      it('a batch of 1', () => {
        assertOneLineError(cli(['init', wn, '--data', images, '--batch-size', '1', '-o', out()]), /at least 2 samples, got 1/);
      });
      it('a missing data file', () => {
        assertOneLineError(cli(['init', wn, '--data', path.join(dir, 'nope.npy'), '-o', out()]), /--data ".*nope\.npy" does not exist/);
      });
      it('an input name the model does not have', () => {
        assertOneLineError(cli(['init', wn, '--data', `pixels=${images}`, '-o', out()]), /cannot read "pixels=|has no input "pixels"/);
      });
    });

    it('init under --ep webgpu (SwiftShader on machines without a GPU) gives the CPU result', function () {
      this.timeout(300000);
      const env = webgpuEnv();
      const [gpu, cpu] = [path.join(dir, 'init_webgpu.onnx'), path.join(dir, 'init_cpu.onnx')];
      const result = cli(['init', wn, '--data', images, '--batch-size', '16', '--ep', 'webgpu', '-o', gpu], undefined, env);
      assert.equal(result.code, 0, result.err);
      assert.equal(cli(['init', wn, '--data', images, '--batch-size', '16', '-o', cpu]).code, 0);
      const verify = cli(['verify', gpu, cpu, '--data', npy('probe.npy', Float32Array.from({ length: 3 * 784 }, (_, i) => (i % 255)), [3, 1, 28, 28]), '--rtol', '1e-3', '--atol', '1e-3']);
      assert.equal(verify.code, 0, verify.out + verify.err);
    });
  });

  it('convert and verify under --ep webgpu (SwiftShader on machines without a GPU)', function () {
    this.timeout(300000);
    const cnn = path.join(root, 'models', 'cnn.onnx');
    const wn = path.join(dir, 'cnn_webgpu.onnx');
    assert.equal(cli(['convert', cnn, '-o', wn]).code, 0);
    const env = webgpuEnv();
    const verify = cli(['verify', cnn, wn, '--ep', 'webgpu', '--dim', 'batch=2', '--atol', '1e-4'], undefined, env);
    assert.equal(verify.code, 0, verify.out + verify.err);
    assert.match(verify.out, /match .*ep webgpu/);
  });
});
