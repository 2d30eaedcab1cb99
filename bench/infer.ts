/**
 * One inference measurement in its own process (so each model's session memory is its own):
 * reading the model and creating its session (Session.open), then `warmup` runs and `runs`
 * timed runs on seeded input of the model's (fixed) input shape. Prints one JSON line; writes
 * the output values to `--out` if given.
 *
 *   node dist/bench/infer.js MODEL --runs 50 --warmup 5 [--opt all|disabled] [--out FILE]
 */
import * as fs from 'node:fs';
import { inputSpecs, loadModelFile, nodeRuntime, Session } from '../src/node';
import { concreteDims } from '../src/ir/inputs';
import { elementCount } from '../src/tensor/values';

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}

function seededInput(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const model = args[0];
  const runs = Number(arg(args, '--runs', '50'));
  const warmup = Number(arg(args, '--warmup', '5'));
  const opt = arg(args, '--opt', 'all') as 'all' | 'disabled';
  const out = arg(args, '--out', '');
  const runtime = nodeRuntime();

  const t0 = performance.now();
  const loaded = loadModelFile(model).model;
  const session = await Session.open(runtime, loaded, { options: { graphOptimizationLevel: opt } });
  const createMs = performance.now() - t0;

  const [input] = inputSpecs(loaded);
  const dims = concreteDims(input);
  const feeds = { [input.name]: new runtime.Tensor('float32', seededInput(elementCount(dims), 7), dims) };

  let result = await session.run(feeds);
  for (let i = 1; i < warmup; i++) result = await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    result = await session.run(feeds);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const output = result[session.outputNames[0]].data as Float32Array;
  if (out) fs.writeFileSync(out, new Uint8Array(output.buffer, output.byteOffset, output.byteLength));
  console.log(JSON.stringify({
    createMs, medianMs: quantile(times, 0.5), p10Ms: quantile(times, 0.1), p90Ms: quantile(times, 0.9),
    input: dims, maxRssKB: process.resourceUsage().maxRSS,
  }));
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
