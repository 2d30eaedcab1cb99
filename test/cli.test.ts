/** The wn-onnx command line, run as a user runs it: exit codes, one-line errors, no partial output. */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dump } from 'npyjs';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import { saveModelFile } from '../src/node/model-file';
import { randomTensor } from './support';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'bin', 'wn-onnx.js');
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';

function cli(args: string[], input?: Buffer, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], { input, env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: result.status, stdout: result.stdout, out: result.stdout.toString(), err: result.stderr.toString() };
}

/** A failed command: non-zero exit, one line on stderr, no stack trace. */
function assertOneLineError(result: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  const lines = result.err.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${result.err}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(result.err, /\n\s+at /);
}

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
      const verify = cli(['verify', input, wn, '--dim', 'batch=3', '--dim', 'seq=5']);
      assert.equal(verify.code, 0, verify.out + verify.err);
      assert.match(verify.out, /^match/m);
      assert.equal(cli(['fold', wn, '-o', folded]).code, 0);
      assert.equal(cli(['verify', input, folded, '--dim', 'batch=2', '--dim', 'seq=3']).code, 0);
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
  });

  it('--in-place rewrites the input only when asked (with --fsync: flushed, no temporary left)', () => {
    const folder = fs.mkdtempSync(path.join(dir, 'inplace-'));
    const file = path.join(folder, 'inplace.onnx');
    fs.copyFileSync(path.join(root, 'models', 'mlp.onnx'), file);
    assertOneLineError(cli(['convert', file, '-o', file]), /refusing to overwrite the input model/);
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
      assertOneLineError(cli(['verify', model, model, '--ep', 'cuda']), /--ep cuda: .*npm install --onnxruntime-node-install=cuda12/);
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

  it('convert and verify under --ep webgpu (SwiftShader on machines without a GPU)', function () {
    this.timeout(300000);
    const cnn = path.join(root, 'models', 'cnn.onnx');
    const wn = path.join(dir, 'cnn_webgpu.onnx');
    assert.equal(cli(['convert', cnn, '-o', wn]).code, 0);
    const env = fs.existsSync(swiftshader) && !process.env.VK_DRIVER_FILES
      ? { VK_DRIVER_FILES: swiftshader, VK_ICD_FILENAMES: swiftshader, XDG_RUNTIME_DIR: os.tmpdir() } : {};
    const verify = cli(['verify', cnn, wn, '--ep', 'webgpu', '--dim', 'batch=2', '--atol', '1e-4'], undefined, env);
    assert.equal(verify.code, 0, verify.out + verify.err);
    assert.match(verify.out, /match .*ep webgpu/);
  });
});
