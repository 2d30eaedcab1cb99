/**
 * The fuzz harness (test/fuzz/) in CI: 300 cases of hostile input to the CLI must all pass its
 * checks, and the checks must be able to fail: planted failures (a command that writes into its
 * input, one that leaves a temporary file, one that hangs, a worker that dies) are each caught.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FailureKind } from './fuzz/checks';
import type { Plant } from './fuzz/cases';
import { failing, formatFailures, runFuzz } from './fuzz/harness';
import { prepareSeeds, type SeedModel } from './fuzz/seeds';

describe('fuzz: hostile input to the CLI', () => {
  let dir: string;
  let seeds: { dir: string; list: SeedModel[] };
  before(async function () {
    this.timeout(60000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-fuzz-test-'));
    seeds = { dir: path.join(dir, 'seeds'), list: await prepareSeeds(path.join(dir, 'seeds')) };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('300 cases (seed 1): no hang, crash, internal error, stack trace, bad exit or error line, changed input, leftover', async function () {
    this.timeout(180000);
    const report = await runFuzz({ cases: 300, seed: 1, jobs: 2, seeds, dir: path.join(dir, 'run') });
    assert.equal(report.results.length, 300);
    const failed = failing(report);
    if (failed.length) assert.fail(`${failed.length} of 300 cases failed:\n${formatFailures(report, true).join('\n')}`);
  });

  it('catches planted failures: a write into the input, a temporary file left behind, a hang, a worker that dies', async function () {
    this.timeout(60000);
    const plants: [Plant, FailureKind][] = [
      ['write-input', 'changed input'], ['leftover', 'leftover file'], ['hang', 'hang'], ['die', 'crash'],
    ];
    for (const [plant, kind] of plants) {
      const limits = { timeoutMs: 500, trainTimeoutMs: 500 };
      const report = await runFuzz({ cases: 2, seed: 7, jobs: 1, ...limits, seeds, dir: path.join(dir, plant), plant });
      for (const result of report.results) {
        const got = JSON.stringify(result.failures);
        assert.ok(result.failures.some((f) => f.kind === kind), `${plant}: case ${result.index} should fail as ${kind}, got ${got}`);
      }
    }
  });
});
