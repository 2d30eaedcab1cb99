/**
 * The browser page (web/) in headless Chromium against `wn-onnx serve`: the page's convert, init,
 * training (wasm and WebGPU through SwiftShader) and fold give what the command line gives on the
 * same data, and the page asks nothing of any other origin.
 */
import * as assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { loadModel } from '../src/index';
import { readFloats } from '../src/tensor/values';
import { cli, root } from './helpers/cli';
import { CHROMIUM, openPage, startServe } from './helpers/page';

const artifacts = path.join(root, 'test-artifacts');
/**
 * The runs compared, 20 steps each, against `wn-onnx train` on the provider with the same kernels where the command line
 * has it: the page's wasm is onnxruntime-web's WebAssembly build, which `--ep wasm` runs in Node, so the two must agree
 * bit for bit, for SGD and Adam alike. The page's WebGPU (onnxruntime-web's JSEP shaders) has no command-line twin
 * (onnxruntime-node's WebGPU provider has other kernels): it is compared with the CPU provider, on SGD, whose step is
 * linear in the gradient (Adam's is about lr·sign(gradient): a near-zero gradient rounded the other way moves by 2·lr).
 * SwiftShader runs WebGPU on the CPU, slowly: smaller batches there.
 */
const RUNS = {
  'wasm': { ep: 'wasm', optimizer: 'sgd', lr: 0.0001, rows: 2000, batchSize: 100, cliEp: 'wasm' },
  'wasm-adam': { ep: 'wasm', optimizer: 'adam', lr: 0.001, rows: 2000, batchSize: 100, cliEp: 'wasm' },
  'webgpu': { ep: 'webgpu', optimizer: 'sgd', lr: 0.0001, rows: 200, batchSize: 10, cliEp: 'cpu' },
} as const;
type RunName = keyof typeof RUNS;
/** How close the page's WebGPU steps come to the CPU provider's: the mean loss (relative), each trained tensor (see assertSameSteps). */
const CLOSE = { loss: 1e-4, update: 0.02 } as const;
const slice = path.join(root, 'web', 'data');

interface PageRun { converted: string; initialized: string; trained: string; folded: string; losses: number[]; epochs: { trainLoss: number }[] }

/** Initializers by name as float arrays (every float tensor of the model). */
function parameters(bytes: Uint8Array): Map<string, Float32Array | Float64Array> {
  const model = loadModel(bytes);
  return new Map(model.graph.initializers.filter((t) => t.data_type === 1).map((t) => [t.name!, readFloats(t)]));
}

/** Asserts every float initializer of `actual` within atol + rtol·|expected|; gives the largest absolute difference. */
function assertClose(actual: Uint8Array, expected: Uint8Array, atol: number, rtol: number, only?: RegExp): number {
  const a = parameters(actual);
  const e = parameters(expected);
  assert.deepEqual([...a.keys()].sort(), [...e.keys()].sort());
  let largest = 0;
  for (const [name, values] of e) {
    if (only && !only.test(name)) continue;
    const got = a.get(name)!;
    for (let i = 0; i < values.length; i++) {
      largest = Math.max(largest, Math.abs(got[i] - values[i]));
      assert.ok(Math.abs(got[i] - values[i]) <= atol + rtol * Math.abs(values[i]), `${name}[${i}]: page ${got[i]}, CLI ${values[i]}`);
    }
  }
  return largest;
}

/**
 * Asserts the page's training moved every parameter tensor as the command line's did: the distance between the two
 * results at most `fraction` of how far the command line's steps moved it (the start is the same model). Gives the
 * largest such fraction. For two kernel libraries an element-wise tolerance is not the measure: on raw 0..255 pixels a
 * ReLU or MaxPool decision that float32 rounding tips the other way changes conv1's gradient at once (onnxruntime-web's
 * wasm and the CPU provider, 20 SGD steps from one start, part at step 16: 0.9% of the update).
 */
function assertSameSteps(actual: Uint8Array, expected: Uint8Array, start: Uint8Array, fraction: number): number {
  const [a, e, s] = [parameters(actual), parameters(expected), parameters(start)];
  let largest = 0;
  for (const [name, values] of e) {
    const got = a.get(name)!;
    const from = s.get(name)!;
    let difference = 0;
    let moved = 0;
    for (let i = 0; i < values.length; i++) {
      difference += (got[i] - values[i]) ** 2;
      moved += (values[i] - from[i]) ** 2;
    }
    if (moved === 0) {
      assert.equal(difference, 0, `${name}: the command line left it alone, the page did not`);
      continue;
    }
    const ratio = Math.sqrt(difference / moved);
    largest = Math.max(largest, ratio);
    assert.ok(ratio <= fraction, `${name}: the page's result is ${(100 * ratio).toFixed(2)}% of the command line's update away from it`);
  }
  return largest;
}

const bytesOf = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'));

describe('browser page (headless Chromium, wn-onnx serve)', function () {
  this.timeout(240_000);
  let server: ChildProcess;
  let browser: Browser;
  let page: Page;
  let origin: string;
  let work: string;
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];

  before(async function () {
    assert.ok(fs.existsSync(CHROMIUM), `no ${CHROMIUM}: install Debian's chromium (apt-get install chromium libvulkan1)`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-browser-'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require(path.join(root, 'web', 'build.js')) as { buildPage(): Promise<string> }).buildPage();
    const served = await startServe();
    server = served.server;
    origin = served.url.origin;
    ({ browser, page } = await openPage(served.url, '', undefined, (opened) => {
      opened.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
      opened.on('pageerror', (e) => consoleErrors.push(e.message));
      opened.on('request', (r) => {
        const local = new URL(r.url()).origin === origin || r.url().startsWith('blob:') || r.url().startsWith('data:');
        if (!local) foreignRequests.push(r.url());
      });
    }));
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  afterEach(() => {
    assert.deepEqual(foreignRequests, [], 'requests outside the page\'s origin');
    assert.deepEqual(consoleErrors, [], 'console errors');
  });

  it('loads with no console error, cross-origin isolated, with an execution provider chosen', async () => {
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.match(await page.locator('#ep').inputValue(), /^(webgpu|wasm)$/);
    assert.equal(await page.title(), 'wn-onnx: weight normalization in the browser');
  });

  it('reads a picked model in pieces into the inspect table, and refuses a file past 2 GB with one line', async () => {
    await page.setInputFiles('#model-file', path.join(root, 'models', 'mlp.onnx'));
    await page.waitForFunction(() => document.querySelectorAll('#inspect tr').length > 1);
    assert.match(await page.locator('#inspect').innerText(), /MatMul|Gemm/);
    assert.equal(await page.locator('#status').evaluate((e) => e.classList.contains('error')), false);
    // a sparse file: 2.2 GB long (protobuf's limit is 2 GiB, 2.15 GB), no disk used; refused before any of it is read
    const huge = path.join(work, 'huge.onnx');
    fs.closeSync(fs.openSync(huge, 'w'));
    fs.truncateSync(huge, 2.2e9);
    await page.setInputFiles('#model-file', huge);
    await page.waitForFunction(() => document.querySelector('#status')!.classList.contains('error'));
    const message = await page.locator('#status').innerText();
    assert.match(message, /^error: huge\.onnx is 2\.20 GB: a model past protobuf's 2 GB limit .*use the command line/);
    assert.ok(!message.includes('\n'), message);
  });

  /** The command line's convert and init (100 rows), in `work`. */
  let reference: { converted: Buffer; initialized: Buffer } | undefined;
  function cliReference() {
    if (reference) return reference;
    const file = (name: string) => path.join(work, name);
    assert.equal(cli(['convert', path.join(root, 'models', 'cnn.onnx'), '-o', file('wn.onnx')]).code, 0);
    const images = path.join(slice, 'train-images-idx3-ubyte.gz');
    const init = cli(['init', file('wn.onnx'), '--data', images, '--batch-size', '100', '-o', file('init.onnx')]);
    assert.equal(init.code, 0, init.err);
    const converted = cli(['convert', path.join(root, 'models', 'cnn.onnx'), '-o', '-']).stdout;
    reference = { converted, initialized: fs.readFileSync(file('init.onnx')) };
    return reference;
  }

  /**
   * The command line's 20 steps from the model the page initialized (the same start: init itself is compared on its own,
   * within 1e-5, and a start that differs by that much would be compared with the steps).
   */
  function cliTrain(start: Uint8Array, name: RunName): { trained: Buffer; trainLoss: number } {
    const { rows: count, batchSize, cliEp, optimizer, lr } = RUNS[name];
    const rows = path.join(work, `rows-${count}`);
    if (!fs.existsSync(rows)) {
      const made = spawnSync(process.execPath, [path.join(root, 'dist', 'models', 'make-fashion-slice.js'),
        '--train', String(count), '--test', '1', '--from', slice, '--to', rows]);
      assert.equal(made.status, 0, made.stderr?.toString());
    }
    const file = (stage: string) => path.join(work, `${stage}-${name}.onnx`);
    fs.writeFileSync(file('page-initialized'), start);
    const train = cli(['train', file('page-initialized'), '--data', path.join(rows, 'train-images-idx3-ubyte.gz'),
      '--labels', path.join(rows, 'train-labels-idx1-ubyte.gz'), '--no-shuffle', '--epochs', '1', '--batch-size', String(batchSize),
      '--optimizer', optimizer, '--lr', String(lr), '--ep', cliEp, '--json', '-o', file('cli-trained')]);
    assert.equal(train.code, 0, train.err);
    const summary = JSON.parse(train.out) as { epochs: { trainLoss: number }[] };
    return { trained: fs.readFileSync(file('cli-trained')), trainLoss: summary.epochs[0].trainLoss };
  }

  type TestApi = { wnOnnx: { run(o: unknown): Promise<PageRun> } };
  const runInPage = (name: RunName) => {
    const { ep, optimizer, lr, rows, batchSize } = RUNS[name];
    return page.evaluate((options) => (window as unknown as TestApi).wnOnnx.run(options), {
      model: 'cnn', ep, initRows: 100, train: { rows, batchSize, epochs: 1, lr, optimizer, shuffle: false },
    });
  };

  for (const name of Object.keys(RUNS) as RunName[]) {
    const { ep, optimizer, cliEp } = RUNS[name];
    it(`${ep}, ${optimizer}: convert, init, 20 training steps and fold give what the command line gives`, async () => {
      const expected = cliReference();
      const started = performance.now();
      const run = await runInPage(name);
      const seconds = (performance.now() - started) / 1000;
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: path.join(artifacts, `page-${name}.png`), fullPage: true });
      console.log(`      ${name}: step losses ${run.losses.map((l) => l.toFixed(5)).join(' ')}`);
      const steps = cliTrain(bytesOf(run.initialized), name);
      const losses = `mean loss ${run.epochs[0].trainLoss.toFixed(5)} (CLI ${steps.trainLoss.toFixed(5)})`;
      console.log(`      ${name}: page run ${seconds.toFixed(1)} s, ${losses}`);
      fs.writeFileSync(path.join(work, `page-trained-${name}.onnx`), bytesOf(run.trained));
      fs.writeFileSync(path.join(artifacts, `page-trained-${name}.onnx`), bytesOf(run.trained));
      assert.deepEqual(bytesOf(run.converted), new Uint8Array(expected.converted), 'converted bytes');
      const initDiff = assertClose(bytesOf(run.initialized), expected.initialized, 1e-5, 1e-5, /_g$|bias/);
      assert.equal(run.losses.length, 20);
      const lossDifference = Math.abs(run.epochs[0].trainLoss - steps.trainLoss) / Math.abs(steps.trainLoss);
      console.log(`      ${name}: mean loss relative difference ${lossDifference.toExponential(2)} (CLI on ${cliEp})`);
      let trained: string;
      if (cliEp === 'wasm') {
        // the same WebAssembly kernels in the browser and in Node: every step's numbers are the same
        assert.equal(run.epochs[0].trainLoss, steps.trainLoss, 'mean loss');
        assertClose(bytesOf(run.trained), steps.trained, 0, 0);
        trained = 'trained parameters equal bit for bit';
      } else {
        assert.ok(lossDifference <= CLOSE.loss, 'mean loss');
        const fraction = assertSameSteps(bytesOf(run.trained), steps.trained, bytesOf(run.initialized), CLOSE.update);
        trained = `trained parameters ${(100 * fraction).toFixed(2)}% of the update`;
      }
      console.log(`      ${name}: largest difference from the CLI: init g/b ${initDiff.toExponential(2)}, ${trained}`);
      // the page's folded model is the command line's fold of the page's trained model
      const folded = cli(['fold', path.join(work, `page-trained-${name}.onnx`), '-o', '-']);
      assert.deepEqual(bytesOf(run.folded), new Uint8Array(folded.stdout));
      // and the download link hands out those bytes
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-folded')]);
      assert.deepEqual(new Uint8Array(fs.readFileSync(await download.path())), bytesOf(run.folded));
    });
  }
});
