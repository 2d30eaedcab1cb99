/**
 * Where `wn-onnx convert` / `fold` spend time and memory: the steps of loadModelFile,
 * convert/fold and saveModelFile (src/node/model-file.ts) done one by one, with the time and
 * RSS after each. Inline-weight models only (no external data), like the benchmark model.
 *
 *   node dist/bench/profile.js convert|fold IN OUT [--repeat 3]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convert, decodeModel, encodeModelChunks, fold, Model, planExternalData } from '../src/node';

function step<T>(rows: string[], name: string, f: () => T): T {
  const t0 = performance.now();
  const result = f();
  const t = performance.now() - t0;
  const m = process.memoryUsage();
  rows.push(`  ${name.padEnd(28)} ${t.toFixed(0).padStart(6)} ms   rss ${(m.rss / 1e6).toFixed(0).padStart(5)} MB   arrayBuffers ${(m.arrayBuffers / 1e6).toFixed(0).padStart(5)} MB`);
  return result;
}

function once(op: string, input: string, output: string): string[] {
  const rows: string[] = [];
  const t0 = performance.now();
  const bytes = step(rows, 'readFileSync', () => fs.readFileSync(input));
  const model = step(rows, 'decodeModel + Model', () => new Model(decodeModel(bytes)));
  step(rows, op, () => (op === 'convert' ? convert(model) : fold(model)));
  const base = path.basename(output);
  const layout = step(rows, 'planExternalData', () => planExternalData(model.proto, { defaultLocation: `${base}.data` }));
  const chunks = step(rows, 'encodeModelChunks', () => encodeModelChunks(model.proto, layout.substitute));
  const temp = `${output}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w');
  step(rows, `writeSync (${chunks.length} chunks)`, () => {
    for (const chunk of chunks) for (let w = 0; w < chunk.length;) w += fs.writeSync(fd, chunk, w, chunk.length - w);
  });
  step(rows, 'fsyncSync', () => fs.fsyncSync(fd));
  fs.closeSync(fd);
  step(rows, 'renameSync', () => fs.renameSync(temp, output));
  rows.push(`  ${'total (in process)'.padEnd(28)} ${(performance.now() - t0).toFixed(0).padStart(6)} ms   maxRSS ${(process.resourceUsage().maxRSS * 1024 / 1e6).toFixed(0)} MB`);
  return rows;
}

const [op, input, output] = process.argv.slice(2);
if ((op !== 'convert' && op !== 'fold') || !input || !output) {
  process.stderr.write('usage: node dist/bench/profile.js convert|fold IN OUT\n');
  process.exit(2);
}
console.log(`${op} ${input} -> ${output}`);
console.log(once(op, input, output).join('\n'));
