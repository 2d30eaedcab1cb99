/**
 * The browser page's speed (README "Benchmarks" → "Browser"), in Debian's headless chromium against `wn-onnx serve`:
 *   - a training step of the bundled CNN (models/cnn.onnx, weight-normalized and initialized by the page), batch 100,
 *     Adam, on the bundled Fashion-MNIST slice: wasm with 2 threads and with 1 (`?threads=N`), webgpu on SwiftShader
 *     (a CPU emulation of a GPU: it says nothing about a real GPU), and onnxruntime-node's CPU provider from Node
 *     (bench/train.js's measurement, 2 intra-op threads) in the same run;
 *   - convert and fold of a ~100 MB model (bench/make_big_model.ts: 6 MatMul layers of 2048×2048) in the page
 *     (convertBytes/foldBytes on bytes in memory) against the CLI (`wn-onnx convert`/`fold`, whole process, file to file).
 * Page step times are the time between the page's consecutive step callbacks (the step, the chart, the turns given to
 * the page), median over the steps after the warm-up ones.
 *
 *   npm run bench:web            (builds first)
 *   node dist/bench/web.js [--warmup 10] [--steps 30] [--webgpu-steps 5] [--repeat 3]
 *
 * Prints a Markdown table on standard output; progress goes to standard error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import type { Page } from 'playwright-core';
import { positiveInteger } from '../src/cli/options';
import { writeBigModel } from './make_big_model';
import { openPage, startServe } from '../test/helpers/page';
import { median, runProcess } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'wn-onnx.js');
const BATCH = 100;
const BIG = { layers: 6, size: 2048 };

interface Options { warmup: number; steps: number; webgpuSteps: number; repeat: number }

const log = (line: string) => process.stderr.write(`${line}\n`);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const seconds = (x: number) => `${x.toFixed(2)} s`;

/** What this benchmark calls of the page's test API (web/src/app.ts). */
interface PageApi {
  run(options: unknown): Promise<{ stepMs: number[] }>;
  threads(): number;
  timeConvertFold(url: string): Promise<{ convertMs: number; foldMs: number }>;
}
type PageWindow = { wnOnnx: PageApi };

/** The page's median training step (ms) at batch 100 with Adam, after `warmup` steps. */
async function pageStep(page: Page, ep: 'wasm' | 'webgpu', warmup: number, steps: number): Promise<number> {
  const train = { epochs: 1, rows: (warmup + steps) * BATCH, batchSize: BATCH, optimizer: 'adam', lr: 0.002, shuffle: false };
  const run = await page.evaluate((o) => (window as unknown as PageWindow).wnOnnx.run(o), { model: 'cnn', ep, initRows: 100, train });
  if (run.stepMs.length !== warmup + steps) throw new Error(`the page took ${run.stepMs.length} steps, ${warmup + steps} were asked for`);
  return median(run.stepMs.slice(warmup));
}

async function main(): Promise<void> {
  const o = new Command('bench/web.js')
    .option('--warmup <n>', 'steps before timing', positiveInteger('--warmup'), 10)
    .option('--steps <n>', 'timed steps (wasm, Node)', positiveInteger('--steps'), 30)
    .option('--webgpu-steps <n>', 'timed steps on webgpu (SwiftShader is slow); 2 warm-up steps before them',
      positiveInteger('--webgpu-steps'), 5)
    .option('--repeat <n>', 'runs of convert and fold each (page and CLI); the median counts', positiveInteger('--repeat'), 3)
    .parse(process.argv.slice(2), { from: 'user' })
    .opts<Options>();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-bench-web-'));
  const { server, url } = await startServe();
  const servedBig = path.join(ROOT, 'web', 'dist', `bench-big-${process.pid}.onnx`);
  let closeBrowser: (() => Promise<void>) | undefined;
  try {
    const rows: string[][] = [];
    // ---- training steps ----
    const step: Record<string, number> = {};
    for (const threads of [2, 1]) {
      log(`page, wasm, ${threads} thread(s)…`);
      const { browser, page } = await openPage(url, `?threads=${threads}`);
      closeBrowser = () => browser.close();
      const used = await page.evaluate(() => (window as unknown as PageWindow).wnOnnx.threads());
      if (used !== threads) throw new Error(`the page uses ${used} wasm threads, ${threads} were asked for`);
      step[`wasm${threads}`] = await pageStep(page, 'wasm', o.warmup, o.steps);
      if (threads === 2) {
        log('page, webgpu (SwiftShader)…');
        step.webgpu = await pageStep(page, 'webgpu', 2, o.webgpuSteps);
      }
      await browser.close();
      closeBrowser = undefined;
    }
    log('Node, onnxruntime-node CPU…');
    const node = JSON.parse(runProcess(process.execPath, [path.join(__dirname, 'train.js'), 'measure', 'wn', '--warmup', String(o.warmup),
      '--steps', String(o.steps), '--data', path.join(ROOT, 'web', 'data')]).stdout) as { stepMs: number };
    const vsNode = (x: number) => `${(x / node.stepMs).toFixed(2)}x`;
    rows.push(
      ['training step, page, wasm, 2 threads', ms(step.wasm2), vsNode(step.wasm2), `median of ${o.steps} after ${o.warmup}`],
      ['training step, page, wasm, 1 thread (threads off)', ms(step.wasm1), vsNode(step.wasm1), `median of ${o.steps} after ${o.warmup}`],
      ['training step, page, webgpu on SwiftShader (CPU emulation, not a GPU)', ms(step.webgpu), vsNode(step.webgpu),
        `median of ${o.webgpuSteps} after 2`],
      ['training step, Node, onnxruntime-node CPU (2 threads)', ms(node.stepMs), '1.00x', `median of ${o.steps} after ${o.warmup}`],
    );
    // ---- convert and fold of a ~100 MB model ----
    const big = path.join(work, 'big.onnx');
    writeBigModel(big, BIG);
    const bigSize = fs.statSync(big).size;
    log(`convert and fold of ${(bigSize / 1e6).toFixed(0)} MB: page…`);
    // the page fetches the model from its own origin: a copy in web/dist/ (build output) for this run only; playwright's
    // route.fulfill cannot hand over 100 MB (the browser connection closes)
    fs.copyFileSync(big, servedBig);
    const { browser, page } = await openPage(url, '?threads=2');
    closeBrowser = () => browser.close();
    const pageTimes: { convertMs: number; foldMs: number }[] = [];
    for (let i = 0; i < o.repeat; i++) {
      pageTimes.push(await page.evaluate((u) => (window as unknown as PageWindow).wnOnnx.timeConvertFold(u), path.basename(servedBig)));
    }
    await browser.close();
    closeBrowser = undefined;
    log('… CLI');
    const cliConvert: number[] = [];
    const cliFold: number[] = [];
    for (let i = 0; i < o.repeat; i++) {
      cliConvert.push(runProcess(process.execPath, [BIN, 'convert', big, '-o', path.join(work, 'wn.onnx')]).seconds);
      cliFold.push(runProcess(process.execPath, [BIN, 'fold', path.join(work, 'wn.onnx'), '-o', path.join(work, 'folded.onnx')]).seconds);
    }
    const size = `${(bigSize / 1e6).toFixed(0)} MB`;
    const of = `median of ${o.repeat}`;
    for (const [what, pageS, cliS] of [['convert', median(pageTimes.map((t) => t.convertMs)) / 1e3, median(cliConvert)],
      ['fold', median(pageTimes.map((t) => t.foldMs)) / 1e3, median(cliFold)]] as const) {
      rows.push(
        [`${what} ${size}, page (bytes in memory → bytes)`, seconds(pageS), `${(pageS / cliS).toFixed(2)}x`, of],
        [`${what} ${size}, CLI (whole process, file → file)`, seconds(cliS), '1.00x', of],
      );
    }
    console.log('| what | time | vs Node / CLI | runs |\n|---|---|---|---|');
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  } finally {
    await closeBrowser?.();
    server.kill('SIGTERM');
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(servedBig, { force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
