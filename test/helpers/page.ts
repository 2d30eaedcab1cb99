/**
 * The browser page as benchmarks and tests drive it: `wn-onnx serve` in a child process and Debian's chromium headless
 * (playwright-core, never a downloaded browser), with WebGPU on SwiftShader when no GPU is there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { root } from './cli';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader',
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Starts `wn-onnx serve --port 0`; resolves with the process and the URL it prints. */
export async function startServe(): Promise<{ server: ChildProcess; url: URL }> {
  const server = spawn(process.execPath, [path.join(root, 'bin', 'wn-onnx.js'), 'serve', '--port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<URL>((resolve, reject) => {
    let printed = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
      const found = printed.match(/http:\/\/\S+/)?.[0];
      if (found) resolve(new URL(found));
    });
    server.once('exit', (code) => reject(new Error(`serve exited with ${code} before printing its URL`)));
  });
  return { server, url };
}

/**
 * The served page in a fresh headless chromium (a profile of its own), ready (`wnOnnx.ready`); `query` is appended to
 * the URL (e.g. `?threads=1`); `watch` is called before the page loads (to see every request and console line).
 */
export async function openPage(
  url: URL, query = '', browser?: Browser, watch?: (page: Page) => void,
): Promise<{ browser: Browser; page: Page }> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  const page = await browser.newPage({ acceptDownloads: true });
  watch?.(page);
  await page.goto(new URL(`/${query}`, url).href);
  await page.evaluate(() => (window as unknown as { wnOnnx: { ready: Promise<void> } }).wnOnnx.ready);
  return { browser, page };
}
