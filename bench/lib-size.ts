/**
 * The size of the browser library (`npm run build:lib` → dist/browser/wn-onnx.mjs): raw and gzipped (level 9), without
 * ONNX Runtime, which the page loads itself (onnxruntime-web is external to the bundle).
 *
 *   npm run size:lib
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

export const BROWSER_BUNDLE = path.resolve(__dirname, '..', '..', 'dist', 'browser', 'wn-onnx.mjs');

/** What README's size target is about: gzipped bytes of the bundle. */
export const GZIP_TARGET_BYTES = 150 * 1024;

export function bundleSizes(file = BROWSER_BUNDLE): { raw: number; gzip: number } {
  const bytes = fs.readFileSync(file);
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

if (require.main === module) {
  const { raw, gzip } = bundleSizes();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const file = path.relative(process.cwd(), BROWSER_BUNDLE);
  console.log(`${file}: ${kb(raw)} raw, ${kb(gzip)} gzipped (level 9; target ${kb(GZIP_TARGET_BYTES)}), without ONNX Runtime`);
  if (gzip > GZIP_TARGET_BYTES) process.exitCode = 1;
}
