/**
 * Every ```ts example of README.md, type-checked against the built package and run as a user
 * runs it: `wn-onnx` and `wn-onnx/node` resolve to this checkout's dist/ (through a
 * node_modules link in a temporary folder), and the files the examples name are prepared there.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convert } from '../transforms/weight-norm';
import { loadModelFile, saveModelFile } from '../src/node/model-file';
import { root } from './helpers/cli';

/** The ```ts blocks of the README, in order. */
function examples(): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

describe('README examples', function () {
  this.timeout(120000);
  const blocks = examples();
  let dir: string;
  let diagnostics: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-readme-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'wn-onnx'), 'dir');
    // the browser example's runtime, which a page's project installs beside wn-onnx
    fs.symlinkSync(path.join(root, 'node_modules', 'onnxruntime-web'), path.join(dir, 'node_modules', 'onnxruntime-web'), 'dir');
    fs.copyFileSync(path.join(root, 'models', 'cnn.onnx'), path.join(dir, 'model.onnx'));
    const { model } = loadModelFile(path.join(root, 'models', 'cnn.onnx'));
    convert(model);
    saveModelFile(model, path.join(dir, 'model_wn.onnx'));
    fs.mkdirSync(path.join(dir, 'src'));
    // .mts: ES modules, so the examples' top-level await works
    blocks.forEach((code, i) => fs.writeFileSync(path.join(dir, 'src', `example-${i + 1}.mts`), code));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2022', module: 'nodenext', lib: ['es2022', 'dom'], strict: true, skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], rootDir: 'src', outDir: 'out',
      },
      include: ['src'],
    }));
    const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    diagnostics = `${tsc.stdout}${tsc.stderr}`;
  });

  it('has the examples the README shows (training, conversion, init, running)', () => {
    assert.ok(blocks.length >= 4, `${blocks.length} ts blocks`);
    assert.ok(blocks.some((code) => /Trainer\.create/.test(code)));
  });

  for (let i = 0; i < Math.max(blocks.length, 1); i++) {
    const name = `example-${i + 1}`;
    it(`example ${i + 1} type-checks and runs`, () => {
      const errors = diagnostics.split('\n').filter((line) => line.includes(`${name}.mts`));
      assert.deepEqual(errors, [], `type errors in README example ${i + 1}:\n${blocks[i]}`);
      const result = spawnSync(process.execPath, [path.join(dir, 'out', `${name}.mjs`)], { cwd: dir, encoding: 'utf8' });
      assert.equal(result.status, 0, `README example ${i + 1} failed:\n${result.stderr}`);
      assert.equal(result.stderr, '', 'nothing on standard error');
    });
  }

  it('the examples wrote the files they name', () => {
    for (const file of ['model_wn.onnx', 'model_folded.onnx', 'model_init.onnx', 'model_trained.onnx']) {
      assert.ok(fs.existsSync(path.join(dir, file)), file);
    }
  });
});
