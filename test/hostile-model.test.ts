/**
 * Hostile models and outputs: every case fails fast with one line (no hang, no internal error),
 * leaves the input as it was and leaves no file behind.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Long from 'long';
import { decodeModel, encodeModel } from '../src/onnx/codec';
import type { ModelProto, NodeProto, TensorProto } from '../src/onnx/proto';
import { validateModel } from '../src/ir/validate';
import { printable, WnError } from '../src/errors';
import { openRegularFile } from '../src/node/files';
import { dump } from 'npyjs';
import { assertOneLineError, cli, root } from './helpers/cli';

const mlpBytes = fs.readFileSync(path.join(root, 'models', 'mlp.onnx'));
const mlp = (): ModelProto => decodeModel(mlpBytes.slice());
const graphOf = (m: ModelProto) => m.graph!;
const initializer = (m: ModelProto, name: string): TensorProto => graphOf(m).initializer!.find((t) => t.name === name)!;
const node = (m: ModelProto, name: string): NodeProto => graphOf(m).node!.find((n) => n.name === name)!;

/** Runs a command on a folder and checks it left the folder exactly as it was. */
function refuses(dir: string, args: string[], pattern: RegExp): ReturnType<typeof cli> {
  const before = snapshot(dir);
  const result = cli(args, undefined, {}, 60_000);
  assertOneLineError(result, pattern);
  assert.equal(result.code, 1, result.err);
  assert.deepEqual(snapshot(dir), before, 'the folder is unchanged');
  return result;
}

/** Every file under a folder with its bytes (symlinks as their target). */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, entry);
    const stat = fs.lstatSync(file);
    if (stat.isSymbolicLink()) files[entry] = `-> ${fs.readlinkSync(file)}`;
    else if (stat.isFile()) files[entry] = fs.readFileSync(file).toString('base64');
    else files[entry] = stat.isDirectory() ? 'folder' : 'special';
  }
  return files;
}

describe('hostile input', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-hostile-')); });
  afterEach(() => {
    fs.chmodSync(dir, 0o755);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, model: ModelProto) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, encodeModel(model));
    return file;
  };

  describe('tensors: declared element counts against their data, before any allocation', () => {
    it('a tiny model whose weight declares 2^40 elements and holds no data is refused at once', () => {
      const m = mlp();
      const w = initializer(m, 'fc1.weight');
      w.dims = [Long.fromNumber(2 ** 20), Long.fromNumber(2 ** 20)];
      delete w.raw_data;
      const file = write('huge.onnx', m);
      for (const command of [['inspect', file], ['convert', file, '-o', path.join(dir, 'out.onnx')], ['fold', file, '-o', path.join(dir, 'out.onnx')]]) {
        refuses(dir, command, /tensor "fc1\.weight" declares dims \[1048576, 1048576\] of FLOAT \(1099511627776 elements\) but holds no data/);
      }
    });

    it('a weight with the wrong number of float_data values is refused, not read as NaN', () => {
      const m = mlp();
      const w = initializer(m, 'fc3.weight');
      w.float_data = [...new Float32Array(w.raw_data!.buffer, w.raw_data!.byteOffset, 1280)].slice(0, 1000);
      delete w.raw_data;
      refuses(dir, ['convert', write('short.onnx', m), '-o', path.join(dir, 'out.onnx')],
        /tensor "fc3\.weight" declares dims \[10, 128\] of FLOAT \(1280 elements\) but holds 1000 values in float_data/);
    });

    it('negative dims and dims of 2^53 or more are refused', () => {
      for (const [dims, shown] of [[[-4, 320], '-4'], [[2 ** 53, 1], '9007199254740992'], [[2 ** 30, 2 ** 30, 2 ** 30], '']] as const) {
        const m = mlp();
        initializer(m, 'fc3.weight').dims = dims.map((d) => Long.fromNumber(d));
        const result = refuses(dir, ['inspect', write('dims.onnx', m)], /tensor "fc3\.weight" declares dims/);
        assert.match(result.err, shown ? new RegExp(`${shown} is not a valid dimension`) : /more than any tensor can hold/);
      }
    });

    it('values in a field of another type, in two fields, or of an undefined type are refused', () => {
      const cases: [(t: TensorProto) => void, RegExp][] = [
        [(t) => { t.int64_data = [Long.fromNumber(1)]; }, /holds values both in int64_data and in raw_data/],
        [(t) => { t.data_type = 99; }, /element type data type 99, which ONNX does not define/],
        [(t) => { delete t.raw_data; t.int32_data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; }, /is FLOAT but holds its values in int32_data/],
      ];
      for (const [damage, pattern] of cases) {
        const m = mlp();
        damage(initializer(m, 'fc3.bias'));
        refuses(dir, ['inspect', write('fields.onnx', m)], pattern);
      }
    });
  });

  describe('graph structure, as ONNX\'s checker sees it', () => {
    const cases: [string, (m: ModelProto) => void, RegExp][] = [
      ['a cycle', (m) => { node(m, 'fc1').input![0] = 'relu2'; graphOf(m).input = []; },
        /the nodes form a cycle: node "fc1" \(Gemm\) -> node "relu1" \(Relu\) -> node "fc2" \(Gemm\) -> node "relu2" \(Relu\) -> node "fc1"/],
      ['a dangling input', (m) => { node(m, 'fc2').input![0] = 'nowhere'; },
        /node "fc2" \(Gemm\) reads "nowhere", which no node, graph input or initializer produces/],
      ['duplicate node names', (m) => { node(m, 'relu2').name = 'relu1'; }, /two nodes are named "relu1" \(#1 and #3\)/],
      ['duplicate initializers of different shapes', (m) => {
        graphOf(m).initializer!.push({ ...initializer(m, 'fc3.bias'), dims: [Long.fromNumber(2)], raw_data: new Uint8Array(8) });
      }, /initializer "fc3\.bias" appears twice/],
      ['a value produced twice', (m) => { node(m, 'relu2').output![0] = 'relu1'; }, /value "relu1" is defined twice/],
      ['nodes out of order', (m) => { graphOf(m).node!.reverse(); },
        /node "fc3" \(Gemm\) reads "relu2" before node "relu2" \(Relu\) produces it; ONNX requires nodes in topological order/],
      ['a graph output nothing produces', (m) => { graphOf(m).output![0].name = 'ghost'; }, /graph output "ghost" is produced by no node/],
      ['an empty input of a variadic op (ONNX Runtime crashes on it)', (m) => {
        Object.assign(node(m, 'relu1'), { op_type: 'Max', input: ['fc1', ''] });
      }, /node "relu1" \(Max\) has an empty input name; every input of Max is required/],
      ['a negative input dimension', (m) => { graphOf(m).input![0].type!.tensor_type!.shape!.dim![1].dim_value = Long.fromNumber(-784); },
        /graph input "input" declares dimension -784/],
    ];
    for (const [what, damage, pattern] of cases) {
      it(`refuses ${what}`, () => {
        const m = mlp();
        damage(m);
        assert.throws(() => validateModel({ proto: m }), (e: Error) => e instanceof WnError && pattern.test(e.message));
        refuses(dir, ['convert', write('graph.onnx', m), '-o', path.join(dir, 'out.onnx')], pattern);
      });
    }
  });

  describe('wn-onnx marks validated against the tensors they describe', () => {
    const converted = () => {
      const file = path.join(dir, 'wn.onnx');
      assert.equal(cli(['convert', path.join(root, 'models', 'cnn.onnx'), '-o', file]).code, 0);
      return decodeModel(fs.readFileSync(file));
    };
    const damageSpec = (m: ModelProto, change: (spec: Record<string, unknown>) => void) => {
      for (const n of graphOf(m).node!.filter((n) => n.doc_string?.includes('"weight":"conv2.weight"'))) {
        const at = n.doc_string!.indexOf('{');
        const spec = JSON.parse(n.doc_string!.slice(at));
        change(spec);
        n.doc_string = n.doc_string!.slice(0, at) + JSON.stringify(spec);
      }
    };
    const cases: [string, (spec: Record<string, unknown>) => void, RegExp][] = [
      ['a fractional view', (s) => { s.view = [16, 1, 1.5, 6]; }, /mark is damaged \(view \[16,1,1\.5,6\] is not a list of positive integers\)/],
      ['a view of other size than v', (s) => { s.view = [32, 16, 3, 4]; },
        /v "conv2\.weight_v" is \[32,16,3,3\] of FLOAT, but the mark describes \[32,16,3,4\]/],
      ['a keep axis out of range', (s) => { s.keep = [7]; }, /keep \[7\] is not a list of distinct axes/],
      ['an eps that is not a number', (s) => { s.eps = 'NaN'; }, /eps "NaN" is not a non-negative number/],
    ];
    for (const [what, change, pattern] of cases) {
      it(`fold, inspect and train refuse ${what}`, () => {
        const m = converted();
        damageSpec(m, change);
        const file = write('damaged.onnx', m);
        refuses(dir, ['fold', file, '-o', path.join(dir, 'out.onnx')], pattern);
        refuses(dir, ['inspect', file], pattern);
      });
    }
  });

  describe('external data: regular files only, read no further than declared', () => {
    const externalModel = (location: string) => {
      const m = mlp();
      const w = initializer(m, 'fc3.weight');
      fs.writeFileSync(path.join(dir, 'weights.bin'), w.raw_data!);
      delete w.raw_data;
      w.data_location = 1;
      w.external_data = [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: '5120' }];
      return write('external.onnx', m);
    };

    it('a FIFO is refused without blocking', () => {
      const file = externalModel('pipe.bin');
      execFileSync('mkfifo', [path.join(dir, 'pipe.bin')]);
      refuses(dir, ['inspect', file], /external data file "pipe\.bin" at ".*pipe\.bin" is a named pipe \(FIFO\), not a regular file/);
    });

    it('a character device inside the model folder is refused without reading it', () => {
      const file = externalModel('zero.bin');
      execFileSync('mknod', [path.join(dir, 'zero.bin'), 'c', '1', '5']);
      refuses(dir, ['convert', file, '-o', path.join(dir, 'out.onnx')], /"zero\.bin" at ".*zero\.bin" is a character device, not a regular file/);
      assert.throws(() => openRegularFile('/dev/zero', 'data file'), /data file "\/dev\/zero" is a character device/);
    });

    it('a folder is refused', () => {
      const file = externalModel('folder.bin');
      fs.mkdirSync(path.join(dir, 'folder.bin'));
      refuses(dir, ['inspect', file], /"folder\.bin" at ".*folder\.bin" is a folder, not a regular file/);
    });

    it('a 5,000-character location gives a short message with the real cause', () => {
      const result = refuses(dir, ['inspect', externalModel('w'.repeat(5000))], /has a name too long for the file system/);
      assert.ok(result.err.length < 600, `${result.err.length} characters`);
    });
  });

  it('names with control characters reach the terminal escaped', () => {
    const m = mlp();
    const evil = '\x1b[31mred\x1b[0m\nsecond line\x07';
    for (const n of graphOf(m).node!) n.input = n.input!.map((i) => (i === 'fc3.bias' ? evil : i));
    initializer(m, 'fc3.bias').name = evil;
    initializer(m, evil).dims = [Long.fromNumber(-1)];
    const result = refuses(dir, ['inspect', write('evil.onnx', m)], /tensor "\\x1b\[31mred\\x1b\[0m\\nsecond line\\x07" declares dims \[-1\]/);
    assert.doesNotMatch(result.err, /[\x00-\x08\x0b-\x1f]/);
    assert.equal(printable('a\tb\u0085c'), 'a\\tb\\x85c');
  });

  describe('outputs checked before any work, never the input', () => {
    /** 8 samples for the MLP fixture ([batch, 784] → 10 classes); 50 epochs unless a test says otherwise. */
    const data = () => {
      const images = path.join(dir, 'x.npy');
      const labels = path.join(dir, 'y.npy');
      fs.writeFileSync(images, Buffer.from(dump(Float32Array.from({ length: 8 * 784 }, (_, i) => Math.sin(i)), [8, 784])));
      fs.writeFileSync(labels, Buffer.from(dump(BigInt64Array.from({ length: 8 }, (_, i) => BigInt(i % 10)), [8])));
      return ['--data', images, '--labels', labels, '--epochs', '50', '--batch-size', '2'];
    };

    it('train refuses -o that is the input (directly, through a symlink, through a symlinked folder, as a hard link, a data file) before training', () => {
      const model = path.join(dir, 'm.onnx');
      fs.copyFileSync(path.join(root, 'test', 'fixtures', 'training', 'mlp', 'model.onnx'), model);
      fs.symlinkSync(model, path.join(dir, 'link.onnx'));
      fs.symlinkSync(dir, path.join(dir, 'same'));
      fs.linkSync(model, path.join(dir, 'hard.onnx'));
      for (const out of [model, path.join(dir, 'link.onnx'), path.join(dir, 'same', 'm.onnx'), path.join(dir, 'hard.onnx')]) {
        const result = refuses(dir, ['train', model, ...data(), '-o', out], new RegExp('refusing to overwrite an input, ".*": it is .*\\.onnx, '
          + 'which this command reads \\(the model, its external data or its data files\\); choose another output path \\(or --in-place to replace the model\\)'));
        assert.doesNotMatch(result.err, /epoch/);
      }
      for (const file of ['x.npy', 'y.npy']) refuses(dir, ['train', model, ...data(), '-o', path.join(dir, file)], /refusing to overwrite an input/);
      refuses(dir, ['init', model, '--data', `input=${path.join(dir, 'x.npy')}`, '-o', path.join(dir, 'x.npy')], /refusing to overwrite an input/);
      for (const out of [path.join(dir, 'link.onnx'), path.join(dir, 'same', 'm.onnx')]) {
        refuses(dir, ['convert', model, '-o', out], /refusing to overwrite an input/);
        refuses(dir, ['fold', model, '-o', out], /refusing to overwrite an input/);
      }
    });

    it('train refuses a missing folder, a folder as -o, an unwritable folder, a bad --plot and a file as --checkpoint, before training', () => {
      const model = path.join(root, 'test', 'fixtures', 'training', 'mlp', 'model.onnx');
      fs.mkdirSync(path.join(dir, 'sub'));
      const readOnly = path.join(dir, 'ro');
      fs.mkdirSync(readOnly);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', readOnly]);
      try {
        const args = data();
        const cases: [string[], RegExp][] = [
          [['-o', path.join(dir, 'missing', 'out.onnx')], /folder ".*missing" does not exist; create it first/],
          [['-o', path.join(dir, 'sub')], /it is a folder; give a file name/],
          [['-o', path.join(readOnly, 'out.onnx')], /cannot write ".*ro": the file system is read-only/],
          [['-o', path.join(dir, 'out.onnx'), '--plot', path.join(dir, 'missing', 'curves.svg')], /--plot ".*curves\.svg": folder .* does not exist/],
          [['-o', path.join(dir, 'out.onnx'), '--checkpoint', path.join(dir, 'x.npy')], /--checkpoint folder ".*x\.npy" is a file, not a folder/],
          [['-o', path.join(dir, 'out.onnx'), '--checkpoint', path.join(readOnly, 'ckpt')], /the file system is read-only/],
        ];
        for (const [extra, pattern] of cases) {
          const result = refuses(dir, ['train', model, ...args, ...extra], pattern);
          assert.doesNotMatch(result.err, /epoch/);
        }
      } finally {
        execFileSync('umount', [readOnly]);
      }
    });

    it('train --in-place writes the trained model over the input', () => {
      const model = path.join(dir, 'm.onnx');
      fs.copyFileSync(path.join(root, 'test', 'fixtures', 'training', 'mlp', 'model.onnx'), model);
      const before = fs.readFileSync(model);
      const result = cli(['train', model, ...data().slice(0, 4), '--epochs', '1', '--batch-size', '4', '--in-place']);
      assert.equal(result.code, 0, result.err);
      assert.notDeepEqual(fs.readFileSync(model), before);
      assert.deepEqual(fs.readdirSync(dir).sort(), ['m.onnx', 'x.npy', 'y.npy']);
    });

    it('a full disk is a one-line error and leaves no file', () => {
      const small = path.join(dir, 'small');
      fs.mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
      try {
        const args = ['convert', path.join(root, 'models', 'mlp.onnx'), '-o', path.join(small, 'out.onnx')];
        refuses(dir, args, /cannot write ".*out\.onnx": no space is left on the device/);
      } finally {
        execFileSync('umount', [small]);
      }
    });

    it('temporary files of killed runs are cleaned by the next run; a running one keeps its own', () => {
      const out = path.join(dir, 'out.onnx');
      const dead = path.join(dir, '.out.onnx.2147483646.tmp');
      const deadData = path.join(dir, '.out.onnx.data.2147483646.tmp');
      const alive = path.join(dir, `.out.onnx.${process.pid}.tmp`);
      for (const f of [dead, deadData, alive]) fs.writeFileSync(f, 'partial');
      assert.equal(cli(['convert', path.join(root, 'models', 'mlp.onnx'), '-o', out]).code, 0);
      assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(alive), 'out.onnx']);
      fs.rmSync(alive);
      const ckpt = path.join(dir, 'ckpt');
      const killedEpoch = path.join(ckpt, '.epoch-0001.2147483646.tmp');
      fs.mkdirSync(killedEpoch, { recursive: true });
      fs.writeFileSync(path.join(killedEpoch, 'model.onnx'), 'partial');
      const model = path.join(root, 'test', 'fixtures', 'training', 'mlp', 'model.onnx');
      const args = [...data().slice(0, 4), '--epochs', '1', '--batch-size', '4', '--checkpoint', ckpt, '-o', path.join(dir, 'trained.onnx')];
      assert.equal(cli(['train', model, ...args]).code, 0);
      assert.deepEqual(fs.readdirSync(ckpt).sort(), ['epoch-0001', 'latest.json']);
    });

    it('a damaged checkpoint is a one-line error on --resume', () => {
      const model = path.join(root, 'test', 'fixtures', 'training', 'mlp', 'model.onnx');
      const ckpt = path.join(dir, 'ckpt');
      const args = [...data().slice(0, 4), '--epochs', '2', '--batch-size', '4', '-o', path.join(dir, 'out.onnx')];
      assert.equal(cli(['train', model, ...args.slice(0, -2), '--epochs', '1', '-o', path.join(dir, 'first.onnx'), '--checkpoint', ckpt]).code, 0);
      const progress = path.join(ckpt, 'epoch-0001', 'progress.json');
      const damages: [string, string, RegExp][] = [
        [progress, '{"epoch": 1, "steps"', /progress\.json is damaged \(not JSON\)/],
        [progress, '{"epoch": "one", "steps": 2, "settings": {}, "history": []}', /progress\.json is damaged \(epoch, steps, settings or history/],
        [path.join(ckpt, 'latest.json'), '{"folder": "../../etc"}', /latest\.json is damaged/],
        [path.join(ckpt, 'epoch-0001', 'state.onnx'), 'garbage', /state\.onnx: not a valid ONNX model|not an ONNX model/],
      ];
      for (const [file, text, pattern] of damages) {
        const good = fs.readFileSync(file);
        fs.writeFileSync(file, text);
        refuses(dir, ['train', model, ...args, '--resume', ckpt], pattern);
        fs.writeFileSync(file, good);
      }
    });
  });

  it('a model file that is a FIFO or a folder is refused without blocking', () => {
    execFileSync('mkfifo', [path.join(dir, 'pipe.onnx')]);
    refuses(dir, ['inspect', path.join(dir, 'pipe.onnx')], /model file ".*pipe\.onnx" is a named pipe \(FIFO\), not a regular file/);
    refuses(dir, ['inspect', dir], /model file ".*" is a folder, not a regular file/);
  });
});
