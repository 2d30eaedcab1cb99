/**
 * The fuzzer's parent: makes the seeds, hands cases to a pool of forked workers (each runs one
 * case at a time), kills a worker whose case runs past its time limit (a hang) and replaces a
 * worker that died (a crash), and sums up: cases per command, mutation and output, failures by
 * kind, one reproduction per distinct failure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { table } from '../../src/cli/format';
import { FAILURE_KINDS, type Failure } from './checks';
import {
  caseLimit, commandLine, describePlan, planCase, SPAWNED_MODES,
  type CaseResult, type Plant, type RunConfig, type WorkerReply, type WorkerRequest,
} from './cases';
import { show } from './mutations';
import { prepareSeeds, type SeedModel } from './seeds';

const WORKER = path.join(__dirname, 'worker.js');
/** Time a worker gets beyond the command's limit: preparing the case before it, checking the folder after. */
const PREPARE_ALLOWANCE_MS = 10000;
const CHECK_ALLOWANCE_MS = 5000;
/** A spawned command is timed by the worker itself; the parent waits this much longer before it steps in. */
const SPAWN_GRACE_MS = 3000;

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** Index of the first case (cases first … first+cases-1), unless `indices` lists them. */
  first?: number;
  indices?: number[];
  jobs?: number;
  timeoutMs?: number;
  trainTimeoutMs?: number;
  /** Run folder (default: a new one in the system's temporary folder, removed at the end unless `keep`). */
  dir?: string;
  keep?: boolean;
  /** Seeds made earlier (prepareSeeds), to share between runs. */
  seeds?: { dir: string; list: SeedModel[] };
  plant?: Plant;
  onProgress?: (line: string) => void;
  progressEveryMs?: number;
}

export interface FuzzReport {
  seed: number;
  jobs: number;
  results: CaseResult[];
  ms: number;
  /** Where the case folders are (kept with `keep`). */
  casesDir: string;
}

const withoutDebug = (env: NodeJS.ProcessEnv) => {
  const copy = { ...env };
  delete copy.WN_ONNX_DEBUG;
  return copy;
};

/** One forked worker, replaced when it hangs or dies. */
class WorkerSlot {
  private child?: ChildProcess;
  private stderrTail = '';

  /** `stdoutFile`: the worker's standard output, a file it reads back what each command wrote there. */
  constructor(private readonly stdoutFile: string, private readonly onStray: (index: number, error: string) => void) {}

  private worker(): ChildProcess {
    if (this.child && this.child.connected && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const stdout = fs.openSync(this.stdoutFile, 'a+');
    const child = fork(WORKER, [], { stdio: ['ignore', stdout, 'pipe', 'ipc'], env: withoutDebug(process.env) });
    fs.closeSync(stdout);
    child.stderr!.on('data', (chunk: Buffer) => { this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000); });
    child.on('message', (reply: WorkerReply) => {
      if (reply.type === 'stray') this.onStray(reply.index, reply.error);
    });
    child.on('error', () => { /* a send to a worker that just died; its exit is handled */ });
    this.child = child;
    return child;
  }

  private retire(child: ChildProcess): void {
    child.kill('SIGKILL');
    if (this.child === child) this.child = undefined;
  }

  run(config: RunConfig, index: number): Promise<CaseResult> {
    const child = this.worker();
    this.stderrTail = '';
    const plan = planCase(config.seed, index, config.seeds);
    const limit = caseLimit(config, plan);
    const started = Date.now();
    return new Promise((resolve) => {
      let args: string[] = [];
      let detail = '';
      let timer: NodeJS.Timeout | undefined;
      const lost = (failure: Failure): CaseResult => ({
        index, plan, args, detail, exitCode: null, failures: [failure], stdout: '', stderr: this.stderrTail, ms: Date.now() - started,
      });
      const finish = (result: CaseResult) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(result);
      };
      const abandon = (failure: Failure) => {
        this.retire(child);
        if (!config.keep) fs.rmSync(path.join(config.casesDir, String(index)), { recursive: true, force: true });
        finish(lost(failure));
      };
      /** The worker must report within `ms`; `what` says what it was doing otherwise. */
      const arm = (ms: number, what: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => abandon({ kind: 'hang', detail: `${what} after ${ms} ms` }), ms);
      };
      const onMessage = (reply: WorkerReply) => {
        if (reply.type === 'started' && reply.index === index) {
          ({ args, detail } = reply);
          arm(limit + (SPAWNED_MODES.includes(plan.mode) && !config.plant ? SPAWN_GRACE_MS : 0), 'the command was still running');
        } else if (reply.type === 'ran' && reply.index === index) {
          arm(CHECK_ALLOWANCE_MS, 'the harness was still checking the folder');
        } else if (reply.type === 'done' && reply.result.index === index) {
          if (reply.restart) this.retire(child);
          finish(reply.result);
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        const last = this.stderrTail.trim().split('\n').pop() ?? '';
        abandon({ kind: 'crash', detail: `the worker died (${signal ?? `exit ${code}`})${last ? `: ${last.slice(0, 300)}` : ''}` });
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      arm(PREPARE_ALLOWANCE_MS, 'the harness was still preparing the case');
      child.send({ type: 'run', config, index } satisfies WorkerRequest);
    });
  }

  close(): void {
    if (this.child?.connected) this.child.disconnect();
    this.child = undefined;
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const runDir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wn-onnx-fuzz-'));
  const seeds = options.seeds ?? { dir: path.join(runDir, 'seeds'), list: [] };
  if (!options.seeds) seeds.list = await prepareSeeds(seeds.dir);
  const config: RunConfig = {
    seed: options.seed,
    seeds: seeds.list,
    seedsDir: seeds.dir,
    casesDir: path.join(runDir, 'cases'),
    timeoutMs: options.timeoutMs ?? 10000,
    trainTimeoutMs: options.trainTimeoutMs ?? 20000,
    keep: options.keep ?? false,
    plant: options.plant,
  };
  fs.mkdirSync(config.casesDir, { recursive: true });
  const first = options.first ?? 0;
  const queue = options.indices ?? Array.from({ length: options.cases }, (_, i) => first + i);
  const total = queue.length;
  const results = new Map<number, CaseResult>();
  const strays: { index: number; error: string }[] = [];
  const jobs = Math.max(1, Math.min(options.jobs ?? 2, total));
  const slots = Array.from({ length: jobs }, (_, i) => new WorkerSlot(path.join(runDir, `worker-${i}.stdout`), (index, error) => {
    strays.push({ index, error });
  }));
  let lastProgress = Date.now();
  const progress = () => {
    if (!options.onProgress || Date.now() - lastProgress < (options.progressEveryMs ?? 10000)) return;
    lastProgress = Date.now();
    const done = results.size;
    const failing = [...results.values()].filter((r) => r.failures.length).length;
    const elapsed = (Date.now() - started) / 1000;
    const left = (elapsed / done) * (total - done);
    options.onProgress(`fuzz: ${done}/${total} cases, ${failing} failing, ${elapsed.toFixed(0)} s, about ${left.toFixed(0)} s to go`);
  };
  try {
    await Promise.all(slots.map(async (slot) => {
      for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
        results.set(index, await slot.run(config, index));
        progress();
      }
    }));
  } finally {
    for (const slot of slots) slot.close();
  }
  for (const { index, error } of strays) results.get(index)?.failures.push({ kind: 'crash', detail: `after the case had ended: ${error}` });
  if (!options.keep && !options.dir) fs.rmSync(runDir, { recursive: true, force: true });
  const sorted = [...results.values()].sort((a, b) => a.index - b.index);
  return { seed: options.seed, jobs, results: sorted, ms: Date.now() - started, casesDir: config.casesDir };
}

// ---------------------------------------------------------------- the summary

const firstLine = (text: string) => text.split('\n').find((l) => l.trim() !== '') ?? '';

export function reproduction(seed: number, result: CaseResult): string {
  return `npm run fuzz -- --seed ${seed} --repro ${result.index}   # ${describePlan(result.plan)}: ${show(commandLine(result.args), 200)}`;
}

export const failing = (report: FuzzReport) => report.results.filter((r) => r.failures.length > 0);

/** A failure's signature: kind, case shape and message with numbers and quoted names blurred. */
function signature(result: CaseResult, failure: Failure): string {
  const blur = (text: string) => text.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, '#');
  return [failure.kind, result.plan.command, result.plan.mode, result.plan.mutations.join('+'), result.plan.output,
    blur(failure.detail), blur(firstLine(result.stderr))].join('|');
}

function countTable(title: string, results: CaseResult[], keys: (r: CaseResult) => string[]): string[] {
  const counts = new Map<string, { cases: number; failing: number }>();
  for (const r of results) {
    for (const key of keys(r)) {
      const c = counts.get(key) ?? { cases: 0, failing: 0 };
      c.cases++;
      if (r.failures.length) c.failing++;
      counts.set(key, c);
    }
  }
  const rows = [...counts].sort((a, b) => b[1].cases - a[1].cases).map(([key, c]) => [key, String(c.cases), String(c.failing)]);
  return ['', ...table([title, 'cases', 'failing'], rows)];
}

/** Failure lines: every failing case (`all`), or one per distinct failure with its count. */
export function formatFailures(report: FuzzReport, all = false): string[] {
  const out: string[] = [];
  for (const kind of FAILURE_KINDS) {
    const groups = new Map<string, { count: number; result: CaseResult; failure: Failure }>();
    for (const result of report.results) {
      for (const failure of result.failures.filter((f) => f.kind === kind)) {
        const key = all ? `${result.index}|${failure.detail}` : signature(result, failure);
        const group = groups.get(key);
        if (group) group.count++;
        else groups.set(key, { count: 1, result, failure });
      }
    }
    if (!groups.size) continue;
    out.push('', `${kind}:`);
    for (const { count, result, failure } of groups.values()) {
      out.push(`  ${count > 1 ? `${count}x ` : ''}${reproduction(report.seed, result)}`);
      out.push(`      ${show(failure.detail, 300)}${result.detail ? ` | ${show(result.detail, 200)}` : ''}`);
      const stderr = firstLine(result.stderr);
      if (stderr && !failure.detail.startsWith(stderr.slice(0, 100))) out.push(`      stderr: ${show(stderr, 300)}`);
    }
  }
  return out;
}

export function formatSummary(report: FuzzReport, all = false): string {
  const { results } = report;
  const bad = failing(report);
  // wall time per case in ms is seconds per 1,000 cases
  const perCase = (results.length ? report.ms / results.length : 0).toFixed(0);
  const lines = [
    `wn-onnx fuzz: ${results.length} cases (seed ${report.seed}, ${report.jobs} jobs) in ${(report.ms / 1000).toFixed(1)} s`
      + ` (${perCase} s per 1,000 cases); ${bad.length} failing`,
    ...countTable('command', results, (r) => [r.plan.command]),
    ...countTable('mode', results, (r) => [r.plan.mode]),
    ...countTable('mutation', results, (r) => r.plan.mutations),
    ...countTable('output', results, (r) => [r.plan.output]),
  ];
  const kinds = FAILURE_KINDS.map((kind) => [kind, String(results.filter((r) => r.failures.some((f) => f.kind === kind)).length)])
    .filter(([, n]) => n !== '0');
  lines.push('', ...(kinds.length ? table(['failure kind', 'cases'], kinds) : ['no failures']));
  const heading = all ? 'failures (every case):' : 'failures (one line per distinct failure, with a count; --all lists every case):';
  if (bad.length) lines.push('', heading, ...formatFailures(report, all));
  return lines.join('\n');
}
