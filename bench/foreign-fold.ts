/**
 * Folding weight norm as PyTorch exports it, at the size of a real vocoder (npm run
 * bench:foreign): HiFi-GAN V1's generator (about 14 M parameters, weight norm on all 78
 * layers) exported by Debian's python3-torch with constant folding off
 * (test/fixtures/make_foreign_wn_fixtures.py --bench), then, each in its own process under GNU
 * time, in interleaved rounds after a warm-up: Python's `onnx.load` + `onnx.save` of the file
 * (the baseline: a tool that only reads and writes it), `wn-onnx fold`, `wn-onnx convert`
 * (adopting the exporter's g and v) and `wn-onnx fold` of the adopted model. Prints a Markdown
 * table (best wall time, all runs, peak RSS).
 *
 *   node dist/bench/foreign-fold.js [--dir DIR] [--repeat 5] [--python /usr/bin/python3]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { positiveInteger } from '../src/cli/options';
import { measured, requireGnuTime, runProcess, type Measured } from './process';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'wn-onnx.js');

interface Options { dir: string; repeat: number; python: string }

function parseArgs(argv: string[]): Options {
  return new Command('bench/foreign-fold.js')
    .option('--dir <dir>', 'working folder', (d: string) => path.resolve(d), path.join(os.tmpdir(), 'wn-bench-foreign'))
    .option('--repeat <n>', 'interleaved rounds', positiveInteger('--repeat'), 5)
    .option('--python <exe>', 'python with torch and onnx', '/usr/bin/python3')
    .parse(argv, { from: 'user' })
    .opts<Options>();
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  requireGnuTime();
  fs.mkdirSync(o.dir, { recursive: true });
  const at = (name: string) => path.join(o.dir, name);
  const made = runProcess(o.python, [path.join(ROOT, 'test', 'fixtures', 'make_foreign_wn_fixtures.py'), '--bench', o.dir]);
  process.stderr.write(made.stdout);
  runProcess(process.execPath, [CLI, 'convert', at('hifigan_v1.onnx'), '-o', at('adopted.onnx')]);
  const jobs: { label: string; command: string; args: string[]; runs: Measured[] }[] = [
    { label: 'Python `onnx.load` + `onnx.save`', command: o.python, args: [path.join(ROOT, 'bench', 'python_load_save.py'), at('hifigan_v1.onnx'), at('python.onnx')] },
    { label: '`wn-onnx fold` (the exporter\'s weight norm)', command: process.execPath, args: [CLI, 'fold', at('hifigan_v1.onnx'), '-o', at('folded.onnx')] },
    { label: '`wn-onnx convert` (adopts it)', command: process.execPath, args: [CLI, 'convert', at('hifigan_v1.onnx'), '-o', at('converted.onnx')] },
    { label: '`wn-onnx fold` of the adopted model', command: process.execPath, args: [CLI, 'fold', at('adopted.onnx'), '-o', at('refolded.onnx')] },
  ].map((j) => ({ ...j, runs: [] }));
  for (let round = 0; round <= o.repeat; round++) {
    for (const job of jobs) {
      const m = measured(job.command, job.args);
      process.stderr.write(`  ${job.label} ${round ? `#${round}` : 'warm-up'}: ${m.wallS.toFixed(2)} s, peak RSS ${(m.rssBytes / 1e6).toFixed(0)} MB\n`);
      if (round) job.runs.push(m);
    }
  }
  const size = fs.statSync(at('hifigan_v1.onnx')).size;
  const baseline = Math.min(...jobs[0].runs.map((r) => r.wallS));
  console.log(`Model: HiFi-GAN V1 generator, ${(size / 1e6).toFixed(1)} MB, weight norm on every layer, exported with constant folding off.\n`);
  console.log('| operation | wall time (best) | all runs | vs Python | peak RSS |');
  console.log('|---|---|---|---|---|');
  for (const job of jobs) {
    const best = Math.min(...job.runs.map((r) => r.wallS));
    const rss = Math.max(...job.runs.map((r) => r.rssBytes));
    console.log(`| ${job.label} | ${best.toFixed(2)} s | ${job.runs.map((r) => r.wallS.toFixed(2)).join(', ')} | ${(best / baseline).toFixed(2)}x | ${(rss / 1e6).toFixed(0)} MB |`);
  }
}

main();
