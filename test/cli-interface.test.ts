/**
 * The command line's and the library's interfaces say what they do: `--json` is one JSON
 * document on standard output for every command (human lines on standard error), the version,
 * help and usage errors have their exit codes, a closed standard output ends quietly and a full
 * one is a one-line error, verify's --dim is checked, and the Trainer takes any batch size and
 * plain label arrays.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-common';
import { dump } from 'npyjs';
import { DataType } from '../src/onnx/enums';
import { makeModel, makeNode, tensorInfo } from '../src/ir/make';
import type { Model } from '../src/ir/model';
import { convert } from '../transforms/weight-norm';
import { loadModelFile } from '../src/node/model-file';
import { seededRandom } from '../src/tensor/random';
import { Trainer } from '../src/train/trainer';
import { randomTensor, runtime } from './support';
import { assertOneLineError, cli, root } from './helpers/cli';

const bin = path.join(root, 'bin', 'wn-onnx.js');
const cnn = path.join(root, 'models', 'cnn.onnx');
const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Runs `wn-onnx ARGS | reader` in a shell: the command's exit status and standard error, and the folder's files after. */
function piped(args: string[], reader: string, cwd: string) {
  const before = fs.readdirSync(cwd);
  const command = `(${quote(process.execPath)} ${[bin, ...args].map(quote).join(' ')} 2>err.txt; echo $? >rc.txt) | ${reader} >/dev/null`;
  spawnSync('sh', ['-c', command], { cwd });
  const read = (file: string) => fs.readFileSync(path.join(cwd, file), 'utf8');
  const result = { code: Number(read('rc.txt')), err: read('err.txt') };
  for (const file of ['rc.txt', 'err.txt']) fs.rmSync(path.join(cwd, file));
  assert.deepEqual(fs.readdirSync(cwd), before, 'no file left behind');
  return result;
}

/** Runs wn-onnx with standard output on /dev/full (a device that is always full). */
function toFullDevice(args: string[]) {
  const full = fs.openSync('/dev/full', 'w');
  try {
    const result = spawnSync(process.execPath, [bin, ...args], { stdio: ['ignore', full, 'pipe'] });
    return { code: result.status, stdout: Buffer.alloc(0), out: '', err: result.stderr.toString() };
  } finally {
    fs.closeSync(full);
  }
}

function images(rows: number, seed = 1): ort.Tensor {
  const random = seededRandom(seed);
  return new runtime.Tensor('float32', Float32Array.from({ length: rows * 784 }, random), [rows, 1, 28, 28]);
}

describe('wn-onnx command line: streams, exit codes, checks', function () {
  this.timeout(120000);
  let dir: string;
  let wn: string;
  let x: string;
  let y: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-interface-'));
    wn = path.join(dir, 'cnn_wn.onnx');
    assert.equal(cli(['convert', cnn, '-o', wn]).code, 0);
    const random = seededRandom(7);
    x = path.join(dir, 'x.npy');
    y = path.join(dir, 'y.npy');
    fs.writeFileSync(x, Buffer.from(dump(Float32Array.from({ length: 48 * 784 }, random), [48, 1, 28, 28])));
    fs.writeFileSync(y, Buffer.from(dump(BigInt64Array.from({ length: 48 }, (_, i) => BigInt(i % 10)), [48])));
  });
  const out = (name: string) => path.join(dir, name);

  describe('--json: one JSON document on standard output, every human line on standard error', () => {
    it('convert, and convert --init', () => {
      const converted = cli(['convert', cnn, '-o', out('c.onnx'), '--json']);
      assert.equal(converted.code, 0, converted.err);
      assert.equal(JSON.parse(converted.out).converted.length, 4);
      const init = cli(['convert', cnn, '--init', x, '-o', out('ci.onnx'), '--json']);
      assert.equal(init.code, 0, init.err);
      const report = JSON.parse(init.out);
      assert.equal(report.convert.converted.length, 4);
      assert.equal(report.init.layers.length, 4);
      assert.match(init.err, /^init: batch of 48 rows/m, 'the progress line on standard error');
    });

    it('fold', () => {
      const folded = cli(['fold', wn, '-o', out('f.onnx'), '--json']);
      assert.equal(folded.code, 0, folded.err);
      assert.equal(JSON.parse(folded.out).folded.length, 4);
    });

    it('init: its progress line goes to standard error, not before the JSON', () => {
      const init = cli(['init', wn, '--data', x, '-o', out('i.onnx'), '--json']);
      assert.equal(init.code, 0, init.err);
      assert.equal(JSON.parse(init.out).layers.length, 4);
      assert.match(init.err, /^init: /m);
    });

    it('inspect', () => {
      const inspect = cli(['inspect', wn, '--json']);
      assert.equal(inspect.code, 0, inspect.err);
      assert.equal(JSON.parse(inspect.out).filter((l: { form: string }) => l.form === 'weight-norm').length, 4);
      assert.equal(inspect.err, '');
    });

    it('verify: per-output differences, tolerances, match (and exit 1 on a mismatch)', () => {
      const verify = cli(['verify', cnn, wn, '--dim', 'batch=3', '--json']);
      assert.equal(verify.code, 0, verify.err);
      const report = JSON.parse(verify.out);
      assert.deepEqual(Object.keys(report), ['outputs', 'rtol', 'atol', 'ep', 'match']);
      assert.deepEqual(report.outputs.map((o: { output: string; elements: number }) => [o.output, o.elements]), [['logits', 30]]);
      assert.ok(report.outputs[0].maxAbs < 1e-5 && report.match === true && report.rtol === 1e-4 && report.atol === 1e-5);
      const other = out('other.onnx');
      assert.equal(cli(['convert', cnn, '-o', other, '--eps', '1e3']).code, 0);
      const mismatch = cli(['verify', cnn, other, '--json']);
      assert.equal(mismatch.code, 1);
      assert.equal(JSON.parse(mismatch.out).match, false);
    });

    it('train: the per-epoch summaries and the output path; the epoch lines stay on standard error', () => {
      const trained = out('t.onnx');
      const train = cli(['train', wn, '--data', x, '--labels', y, '--epochs', '2', '--batch-size', '16', '-o', trained, '--json']);
      assert.equal(train.code, 0, train.err);
      const report = JSON.parse(train.out);
      assert.equal(report.output, trained);
      assert.deepEqual(report.epochs.map((e: { epoch: number }) => e.epoch), [1, 2]);
      for (const key of ['trainLoss', 'trainAccuracy', 'samplesPerSecond', 'seconds', 'lr']) {
        assert.equal(typeof report.epochs[1][key], 'number', key);
      }
      assert.match(train.err, /^epoch 2\/2 \| train loss/m);
      assert.ok(fs.existsSync(trained));
    });

    it('--json with "-o -" is a one-line usage error: both need standard output', () => {
      const usage = /--json and "-o -" both need standard output/;
      for (const args of [['convert', cnn], ['fold', wn], ['init', wn, '--data', x], ['train', wn, '--data', x, '--labels', y]]) {
        const result = cli([...args, '-o', '-', '--json']);
        assertOneLineError(result, usage);
        assert.equal(result.code, 2, args[0]);
        assert.equal(result.out, '');
      }
    });

    it('without --json, the human output stays where it was', () => {
      assert.match(cli(['inspect', wn]).out, /4 layer weights, 4 weight-normalized/);
      assert.match(cli(['verify', cnn, wn]).out, /^logits: max \|a-b\| .*\nmatch \(rtol/m);
    });
  });

  describe('version, help, usage errors', () => {
    it('--version prints the package version', () => {
      const version = cli(['--version']);
      assert.equal(version.code, 0);
      assert.equal(version.out, `${JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version}\n`);
    });

    it('no command: the help on standard error, exit 2', () => {
      const none = cli([]);
      assert.equal(none.code, 2);
      assert.equal(none.out, '');
      assert.match(none.err, /^Usage: wn-onnx /);
      assert.match(none.err, /verify \[options\] <a> <b>/);
    });

    it('an unknown command or option: one line, exit 2', () => {
      const unknown = cli(['frobnicate', cnn]);
      assertOneLineError(unknown, /^wn-onnx: error: unknown command 'frobnicate'/);
      assert.equal(unknown.code, 2);
      const option = cli(['inspect', cnn, '--bogus']);
      assertOneLineError(option, /^wn-onnx: error: unknown option '--bogus' \(see wn-onnx inspect --help\)/);
      assert.equal(option.code, 2);
    });
  });

  describe('standard output closed early or full', () => {
    it('a reader that stops early (| head -c 10, | true) ends the command quietly with its usual status', () => {
      const cwd = fs.mkdtempSync(path.join(dir, 'pipe-'));
      for (const [args, reader] of [
        [['convert', cnn, '-o', '-'], 'head -c 10'],
        [['fold', wn, '-o', '-'], 'head -c 10'],
        [['inspect', cnn], 'head -c 10'],
        [['inspect', cnn], 'true'],
        [['inspect', wn, '--json'], 'true'],
        [['verify', cnn, wn], 'true'],
        [['--help'], 'true'],
        [['--version'], 'true'],
      ] as const) {
        const result = piped([...args], reader, cwd);
        assert.deepEqual(result, { code: 0, err: '' }, `${args.join(' ')} | ${reader}`);
      }
    });

    it('a full device is a one-line error', () => {
      for (const args of [['convert', cnn, '-o', '-'], ['inspect', cnn], ['verify', cnn, wn, '--json']]) {
        const result = toFullDevice(args);
        assertOneLineError(result, /^wn-onnx: error: cannot write to standard output: no space left on device \(ENOSPC\)/);
        assert.equal(result.code, 1, args.join(' '));
      }
    });
  });

  describe('verify: "-", --dim', () => {
    it('reads either model from standard input', () => {
      const model = fs.readFileSync(cnn);
      for (const args of [['-', wn], [wn, '-']]) {
        const result = cli(['verify', ...args, '--dim', 'batch=2'], model);
        assert.equal(result.code, 0, result.err);
        assert.match(result.out, /^match/m);
      }
    });

    it('a --dim name no input has: one line listing the symbolic dims', () => {
      assertOneLineError(cli(['verify', cnn, wn, '--dim', 'seq=4']),
        /dim "seq" is no symbolic dimension of the model's inputs \(its symbolic dims are batch\)/);
    });

    it('random inputs too large for the machine: one line with their size, before allocating', () => {
      const limit = os.totalmem() / 16;
      for (const batch of [Math.floor(limit / (784 * 4)) + 1, 1e9]) {
        const started = performance.now();
        const result = cli(['verify', cnn, wn, '--dim', `batch=${batch}`]);
        const estimate = `random inputs of [\\d.]+ GB \\("input" \\[${batch},1,28,28\\] FLOAT\\) exceed the [\\d.]+ GB allowed`;
        assertOneLineError(result, new RegExp(estimate));
        assert.ok(performance.now() - started < 20000, 'refused before making the inputs');
      }
    });

    it('ONNX Runtime running out of memory is a one-line error', function () {
      if (process.platform !== 'linux') this.skip();
      // a 4 GB address space: the 250 MB of inputs fit, the first Conv's 4 GB output does not
      const verify = [process.execPath, bin, 'verify', cnn, wn, '--dim', 'batch=80000'];
      const command = `ulimit -v 4000000 && exec ${verify.map(quote).join(' ')}`;
      const result = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
      assertOneLineError({ code: result.status, stdout: Buffer.alloc(0), out: result.stdout, err: result.stderr },
        /^wn-onnx: error: ONNX Runtime failed to run the model: .*allocate/);
      assert.equal(result.status, 1);
    });
  });
});

/** x [batch or 4, 8] · W [8, 3] = y. */
function matmulModel(batch: string | number): Model {
  return makeModel({
    opset: 13, inputs: [tensorInfo('x', DataType.FLOAT, [batch, 8])], outputs: [tensorInfo('y', DataType.FLOAT, [batch, 3])],
    nodes: [makeNode('MatMul', ['x', 'w'], ['y'])], initializers: [randomTensor('w', [8, 3], 1)],
  });
}

const rowsOf = (rows: number, width: number) =>
  new runtime.Tensor('float32', Float32Array.from({ length: rows * width }, seededRandom(rows)), [rows, width]);

describe('Trainer: any batch size from one probe batch, plain label arrays, one-line misfits', function () {
  this.timeout(120000);
  let trainer: Trainer;
  before(async () => {
    const { model } = loadModelFile(cnn);
    convert(model);
    trainer = await Trainer.create(model, [{ input: images(4) }], { runtime, optimizer: { kind: 'sgd' } });
  });
  after(() => trainer.release());

  it('one probe batch: the step graph takes other batch sizes (the batch axis stays dynamic)', async () => {
    assert.deepEqual(trainer.outputDims, [null, 10]);
    for (const rows of [3, 4, 7]) {
      const labels = Array.from({ length: rows }, (_, i) => (i * 3) % 10);
      const { loss, output } = await trainer.step({ input: images(rows, rows) }, trainer.targetTensor(labels), { lr: 0.01 });
      assert.ok(Number.isFinite(loss), `batch of ${rows}`);
      assert.deepEqual(output.dims, [rows, 10]);
    }
    assert.ok(Number.isFinite((await trainer.evaluate({ input: images(5) }, trainer.targetTensor(new Int32Array(5)))).loss));
  });

  it('targetTensor: number[], typed arrays and NdArray, all rows by default or the rows picked', () => {
    const onehot = (t: ort.Tensor) => {
      const data = t.data as Float32Array;
      return Array.from({ length: t.dims[0] }, (_, r) => data.subarray(r * 10, (r + 1) * 10).indexOf(1));
    };
    assert.deepEqual(onehot(trainer.targetTensor([3, 1, 4])), [3, 1, 4]);
    assert.deepEqual(onehot(trainer.targetTensor(Uint8Array.of(9, 0))), [9, 0]);
    assert.deepEqual(onehot(trainer.targetTensor(BigInt64Array.of(5n, 6n, 7n), [2, 0])), [7, 5]);
    const nd = { data: Int32Array.of(2, 7, 1, 8), shape: [4], dtype: 'int32' };
    assert.deepEqual(onehot(trainer.targetTensor(nd)), [2, 7, 1, 8]);
    assert.deepEqual(onehot(trainer.targetTensor(nd, [3, 3])), [8, 8]);
    assert.deepEqual(trainer.targetTensor([1, 2]).dims, [2, 10]);
  });

  it('labels or rows that do not fit: one line each', async () => {
    const oneLine = (pattern: RegExp) => (e: unknown) => {
      assert.match((e as Error).message, pattern);
      assert.doesNotMatch((e as Error).message, /\n/);
      return true;
    };
    assert.throws(() => trainer.targetTensor([0, 10]), 
      oneLine(/label 10 of sample 1 is no class index of the model's 10 classes \(0\.\.9\)/));
    assert.throws(() => trainer.targetTensor([0, 1.5]), oneLine(/label 1\.5 of sample 1 is no class index/));
    assert.throws(() => trainer.targetTensor([0, 1], [2]), oneLine(/row 2 asked for, the targets have 2 samples/));
    await assert.rejects(trainer.step({ input: images(3) }, trainer.targetTensor([1, 2, 3, 4]), { lr: 0.01 }),
      oneLine(/input "input" has 3 rows, the target 4; give one target per sample/));
  });

  it('a model with a fixed batch axis takes that size only, and says so in one line', async () => {
    const fixed = await Trainer.create(matmulModel(4), [{ x: rowsOf(4, 8) }], { runtime, loss: 'mse', optimizer: { kind: 'sgd' } });
    try {
      assert.ok(Number.isFinite((await fixed.step({ x: rowsOf(4, 8) }, fixed.targetTensor(new Float32Array(12)), { lr: 0.1 })).loss));
      await assert.rejects(fixed.step({ x: rowsOf(3, 8) }, fixed.targetTensor(new Float32Array(9)), { lr: 0.1 }),
        /^WnError: input "x" has shape \[3,8\], the step graph takes \[4,8\] \(N: any size; a number is fixed/);
    } finally {
      await fixed.release();
    }
  });

  it('mse targets as a flat array: the output\'s values per sample; a count that makes no whole sample is refused', async () => {
    const mse = await Trainer.create(matmulModel('batch'), [{ x: rowsOf(2, 8) }], { runtime, loss: 'mse', optimizer: { kind: 'sgd' } });
    try {
      const target = mse.targetTensor(Float32Array.from({ length: 15 }, (_, i) => i));
      assert.deepEqual(target.dims, [5, 3]);
      assert.ok(Number.isFinite((await mse.step({ x: rowsOf(5, 8) }, target, { lr: 0.1 })).loss));
      assert.throws(() => mse.targetTensor(new Float32Array(5)),
        /the targets \(5 values\) do not fit: mse takes 3 values per sample \(the output is \[N,3\]\)/);
    } finally {
      await mse.release();
    }
  });
});
