/**
 * Builds the page into web/dist/: esbuild bundles web/src/app.ts with wn-onnx's core (imported
 * from ../../src/index, so the page never waits on another build); onnxruntime-web stays
 * outside the bundle (an import map points at ./ort/, which `wn-onnx serve` maps to
 * onnxruntime-web's own dist files, with the .wasm files they load).
 * usage: node web/build.js   (or require('./web/build.js').buildPage())
 */
const fs = require('node:fs');
const path = require('node:path');

const web = __dirname;
const out = path.join(web, 'dist');

async function buildPage() {
  const esbuild = require('esbuild');
  fs.mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(web, 'src', 'app.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    external: ['onnxruntime-web'],
    outfile: path.join(out, 'app.js'),
    sourcemap: true,
    minify: true,
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(web, 'src', file), path.join(out, file));
  return out;
}

module.exports = { buildPage };
if (require.main === module) buildPage().catch((e) => { console.error(`build:page: ${e.message.split('\n')[0]}`); process.exit(1); });
