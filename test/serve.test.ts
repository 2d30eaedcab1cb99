/**
 * `wn-onnx serve` as a user starts it, over plain HTTP (no browser): what it serves and with which headers, the paths
 * it refuses, a taken port, and SIGTERM. Requests go through node:http so paths reach the server as written (fetch
 * would resolve `..` before sending).
 */
import * as assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { startServe } from './helpers/page';
import { assertOneLineError, cli } from './helpers/cli';

const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** One request with the path sent exactly as given; the status, headers and body. */
function request(url: URL, rawPath: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: rawPath, method }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('wn-onnx serve (HTTP, no browser)', function () {
  this.timeout(10_000);
  let server: ChildProcess;
  let url: URL;

  before(async () => {
    ({ server, url } = await startServe());
  });

  after(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  for (const [what, file, type] of [
    ['the page', '/', /^text\/html/],
    ['a .wasm file of onnxruntime-web', '/ort/ort-wasm-simd-threaded.wasm', /^application\/wasm$/],
    ['a bundled model', '/models/cnn.onnx', /^application\/octet-stream$/],
  ] as const) {
    it(`serves ${what} with 200, its type and the cross-origin isolation headers`, async () => {
      const response = await request(url, file);
      assert.equal(response.status, 200);
      assert.match(response.headers['content-type']!, type);
      for (const [name, value] of Object.entries(ISOLATION)) assert.equal(response.headers[name], value, name);
      assert.ok(response.body.length > 0);
    });
  }

  for (const refused of ['/../package.json', '/%2e%2e/package.json', '/models/..%2f..%2fpackage.json', '/models/', '/models', '/ort/']) {
    it(`answers 404 to ${refused}`, async () => {
      const response = await request(url, refused);
      assert.equal(response.status, 404);
      assert.doesNotMatch(response.body.toString(), /"name"|<li>/, 'no file content and no listing');
    });
  }

  it('answers 405 to POST', async () => {
    assert.equal((await request(url, '/', 'POST')).status, 405);
  });

  it('a second serve on the same port exits 1 with a one-line reason', () => {
    const second = cli(['serve', '--port', url.port], undefined, {}, 5_000);
    assert.equal(second.code, 1);
    assertOneLineError(second, new RegExp(`port ${url.port} on 127\\.0\\.0\\.1 is taken; pick another with --port N$`));
  });

  it('ends with exit code 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
