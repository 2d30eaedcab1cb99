/**
 * The package as its users load it, through package.json `exports`: Node ESM (`import`), CommonJS (`require`) and the
 * browser bundle (the `browser` condition, which bundlers set), each converting models/cnn.onnx in memory to the same bytes
 * as `wn-onnx convert`; and the bundle imports nothing (no Node module, no onnxruntime package) and stays within its size.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BROWSER_BUNDLE, GZIP_TARGET_BYTES, bundleSizes } from '../bench/lib-size';
import { cli, root } from './helpers/cli';

const MODEL = path.join(root, 'models', 'cnn.onnx');

/** Prints what a script loaded ('wn-onnx' entry, digests of the converted model through the core and through wn-onnx/node). */
const ESM_SCRIPT = `
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { loadModel, convert, saveModel, WnError } from 'wn-onnx';
import { loadModelFile, convert as convertNode, saveModel as saveNode, WnError as NodeWnError, webRuntime } from 'wn-onnx/node';
const digest = (bytes) => bytes.length + ' ' + createHash('sha256').update(bytes).digest('hex');
console.log(JSON.stringify({
  entry: import.meta.resolve('wn-onnx'),
  core: digest(saveModel(convert(loadModel(readFileSync(${JSON.stringify(MODEL)}))).model)),
  node: digest(saveNode(convertNode(loadModelFile(${JSON.stringify(MODEL)}).model).model)),
  oneCopy: WnError === NodeWnError && WnError === createRequire(import.meta.url)('wn-onnx').WnError,
  webRuntime: typeof webRuntime,
}));
`;

const CJS_SCRIPT = `
const { readFileSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { loadModel, convert, saveModel, WnError } = require('wn-onnx');
const { loadModelFile, convert: convertNode, saveModel: saveNode, WnError: NodeWnError, webRuntime } = require('wn-onnx/node');
const digest = (bytes) => bytes.length + ' ' + createHash('sha256').update(bytes).digest('hex');
console.log(JSON.stringify({
  entry: require.resolve('wn-onnx'),
  core: digest(saveModel(convert(loadModel(readFileSync(${JSON.stringify(MODEL)}))).model)),
  node: digest(saveNode(convertNode(loadModelFile(${JSON.stringify(MODEL)}).model).model)),
  oneCopy: WnError === NodeWnError,
  webRuntime: typeof webRuntime,
}));
`;

interface Loaded { entry: string; core: string; node: string; oneCopy: boolean; webRuntime: string }

/** Any import or require in minified ESM: statements, `from "…"`, dynamic import(), require("…"), a "node:" specifier. */
const IMPORTS = /(?:^|[;}])\s*import\s*[{*"']|\bfrom\s*["']|\bimport\s*\(|\brequire\s*\(\s*["']|["']node:/;

describe('package exports', () => {
  let dir: string;
  let expected: string;

  before(() => {
    // inside the project, so that 'wn-onnx' resolves to this package through its own `exports`
    fs.mkdirSync(path.join(root, '.tmp'), { recursive: true });
    dir = fs.mkdtempSync(path.join(root, '.tmp', 'exports-'));
    const converted = cli(['convert', MODEL, '-o', '-']);
    assert.equal(converted.code, 0, converted.err);
    expected = `${converted.stdout.length} ${createHash('sha256').update(converted.stdout).digest('hex')}`;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function load(name: string, script: string, nodeFlags: string[] = []): Loaded {
    const file = path.join(dir, name);
    fs.writeFileSync(file, script);
    const result = spawnSync(process.execPath, [...nodeFlags, file], { cwd: dir, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as Loaded;
  }

  it('import from Node ESM: named exports of wn-onnx and wn-onnx/node, one copy of the library, the CLI\'s bytes', () => {
    const loaded = load('load.mjs', ESM_SCRIPT);
    assert.equal(loaded.entry, `file://${path.join(root, 'dist', 'src', 'index.js')}`);
    assert.deepEqual([loaded.core, loaded.node], [expected, expected]);
    assert.ok(loaded.oneCopy, 'import and require of wn-onnx and wn-onnx/node share one WnError');
    assert.equal(loaded.webRuntime, 'function');
  });

  it('require from CommonJS: the CLI\'s bytes', () => {
    const loaded = load('load.cjs', CJS_SCRIPT);
    assert.equal(loaded.entry, path.join(root, 'dist', 'src', 'index.js'));
    assert.deepEqual([loaded.core, loaded.node], [expected, expected]);
    assert.ok(loaded.oneCopy);
    assert.equal(loaded.webRuntime, 'function');
  });

  it('the browser condition gets the bundle, which gives the CLI\'s bytes', () => {
    const loaded = load('browser.mjs', ESM_SCRIPT, ['--conditions=browser']);
    assert.equal(loaded.entry, `file://${BROWSER_BUNDLE}`);
    assert.equal(loaded.core, expected);
  });

  it('the bundle imports nothing (no Node module, no onnxruntime package) and is at most 150 KB gzipped', () => {
    assert.match('import{Tensor as a}from"onnxruntime-web";', IMPORTS, 'the check sees an import');
    assert.match('var f=require("fs");', IMPORTS, 'the check sees a require');
    const bundle = fs.readFileSync(BROWSER_BUNDLE, 'utf8');
    const found = IMPORTS.exec(bundle);
    assert.equal(found, null, `the bundle imports: ${found && bundle.slice(found.index - 40, found.index + 60)}`);
    const { gzip } = bundleSizes();
    assert.ok(gzip <= GZIP_TARGET_BYTES, `${gzip} bytes gzipped, target ${GZIP_TARGET_BYTES}`);
  });
});
