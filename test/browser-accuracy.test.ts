/**
 * The page trains for real: the bundled CNN, converted and initialized in the page, trained there with the page's
 * defaults (wasm, adam, lr 0.002, batch 100, 3 epochs, shuffled, on the bundled 4,000-image slice) reaches more than
 * 80% test accuracy on the bundled 1,000 test images, and the page's folded model computes what its trained model
 * computes (`wn-onnx verify` on the two downloads). Also the wasm threads control (`?threads=N`).
 */
import * as assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, openPage, startServe } from './helpers/page';
import { cli } from './helpers/cli';

interface PageRun { trained: string; folded: string; epochs: { valAccuracy?: number }[]; losses: number[] }
type PageWindow = { wnOnnx: { ready: Promise<void>; run(options: unknown): Promise<PageRun>; threads(): number } };

describe('browser page: training to accuracy (headless Chromium, wasm)', function () {
  this.timeout(300_000);
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let work: string;

  before(async function () {
    assert.ok(fs.existsSync(CHROMIUM), `no ${CHROMIUM}: install Debian's chromium (apt-get install chromium libvulkan1)`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-browser-accuracy-'));
    let url: URL;
    ({ server, url } = await startServe());
    ({ browser, page } = await openPage(url));
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('reaches > 80% test accuracy with the page\'s defaults, and its folded model equals its trained one', async () => {
    const started = performance.now();
    const run = await page.evaluate((o) => (window as unknown as PageWindow).wnOnnx.run(o), { model: 'cnn', ep: 'wasm' });
    const accuracy = run.epochs.map((e) => e.valAccuracy!);
    console.log(`      ${run.losses.length} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; test accuracy by epoch `
      + accuracy.map((a) => `${(100 * a).toFixed(2)}%`).join(', '));
    assert.equal(accuracy.length, 3, 'three epochs: the page\'s default');
    assert.ok(accuracy[2] > 0.8, `test accuracy ${(100 * accuracy[2]).toFixed(2)}% after 3 epochs`);
    const file = (name: string) => path.join(work, name);
    fs.writeFileSync(file('trained.onnx'), Buffer.from(run.trained, 'base64'));
    fs.writeFileSync(file('folded.onnx'), Buffer.from(run.folded, 'base64'));
    const verify = cli(['verify', file('trained.onnx'), file('folded.onnx'), '--dim', 'batch=8']);
    assert.equal(verify.code, 0, verify.out + verify.err);
    console.log(`      verify trained vs folded: ${verify.out.trim().split('\n').at(-1)}`);
  });

  it('the wasm threads control reloads the page with ?threads=N, which sets onnxruntime-web\'s threads', async () => {
    const threads = () => page.evaluate(() => (window as unknown as PageWindow).wnOnnx.threads());
    assert.equal(await page.locator('#threads').inputValue(), String(await threads()), 'the control shows the threads in use');
    const control = page.locator('#threads');
    await Promise.all([page.waitForURL(/\?threads=1$/), control.fill('1').then(() => control.dispatchEvent('change'))]);
    await page.evaluate(() => (window as unknown as PageWindow).wnOnnx.ready);
    assert.equal(await threads(), 1);
    assert.equal(await page.locator('#threads').inputValue(), '1');
  });
});
