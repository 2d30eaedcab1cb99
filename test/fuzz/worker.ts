/**
 * A worker of the fuzzer (forked by harness.ts): loads the CLI once, then prepares, runs and
 * checks one case at a time. Most cases call `main()` in this process (chdir into the case,
 * standard output and error captured, process.exitCode read and reset); the spawned modes run
 * `node bin/wn-onnx.js` for real. The parent enforces the time limit of in-process cases (a hang
 * blocks this process) and records a crash when this process dies.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { folderFailures, outcomeFailures, snapshot, type Failure, type Outcome } from './checks';
import {
  caseLimit, planCase, prepareCase, SPAWNED_MODES, type CaseResult, type Plant, type PreparedCase, type RunConfig, type WorkerReply,
  type WorkerRequest,
} from './cases';
import { MODEL_FILE } from './mutations';
import { BIN } from './seeds';

// in-process cases run main() here, output captured: `train` must not run itself again in a child
// (src/node/malloc.ts), whose output the capture would miss; the spawned modes keep that path
process.env.WN_ONNX_NO_RERUN = '1';

/** Restart after a case that leaves this process this large (a leak must not turn into a crash later). */
const RSS_LIMIT = 2 * 2 ** 30;
/** What a result keeps of the command's output (more when the case folder is kept for inspection). */
const OUTPUT_KEPT = 8192;
const OUTPUT_KEPT_REPRO = 1 << 20;

const send = (reply: WorkerReply) => process.send!(reply);

/** Exceptions nobody caught: the running case's, or (raised later) the last case's. */
let caseErrors: string[] | undefined;
let lastIndex = -1;

const firstLines = (e: unknown) => (e instanceof Error ? e.stack ?? e.message : String(e)).split('\n').slice(0, 4).join(' | ');

function recordError(what: string) {
  return (e: unknown) => {
    const text = `${what}: ${firstLines(e)}`;
    if (caseErrors) caseErrors.push(text);
    else send({ type: 'stray', index: lastIndex, error: text });
  };
}

/** Routes a stream's writes into `sink` until the returned function restores it. */
function capture(stream: NodeJS.WriteStream, sink: string[]): () => void {
  const original = stream.write;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (callback) process.nextTick(callback);
    return true;
  }) as typeof stream.write;
  return () => {
    stream.write = original;
  };
}

/**
 * What the command wrote straight to file descriptor 1 (the CLI writes standard output
 * synchronously): the parent makes it a file opened for appending, emptied before each case.
 */
const directOutput = {
  isFile: () => fs.fstatSync(1).isFile(),
  reset: () => fs.ftruncateSync(1, 0),
  read(): string {
    const bytes = Buffer.alloc(Math.min(fs.fstatSync(1).size, OUTPUT_KEPT_REPRO));
    return bytes.subarray(0, fs.readSync(1, bytes, 0, bytes.length, 0)).toString();
  },
};

async function runInProcess(cwd: string, run: () => Promise<void>): Promise<Outcome> {
  const direct = directOutput.isFile();
  if (direct) directOutput.reset();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const home = process.cwd();
  const restore = [capture(process.stdout, stdout), capture(process.stderr, stderr)];
  const errors: string[] = [];
  caseErrors = errors;
  process.exitCode = undefined;
  try {
    process.chdir(cwd);
    await run();
  } catch (e) {
    errors.push(`main() rejected: ${firstLines(e)}`);
  } finally {
    // what a command set off without awaiting lands within a turn or two of the loop
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    for (const undo of restore) undo();
    process.chdir(home);
    caseErrors = undefined;
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  if (direct) stdout.push(directOutput.read());
  return { exitCode, crash: errors.join('; ') || undefined, stdout: stdout.join(''), stderr: stderr.join('') };
}

/** A real process; the modes feed standard input or close standard output early. */
function runSpawned(prepared: PreparedCase, limitMs: number): Promise<Outcome> {
  const { mode } = prepared.plan;
  const env = { ...process.env };
  delete env.WN_ONNX_DEBUG;
  delete env.WN_ONNX_NO_RERUN;
  return new Promise((resolve) => {
    const stdio = [mode === 'stdin' ? 'pipe' : 'ignore', 'pipe', 'pipe'] as const;
    const child = spawn(process.execPath, [BIN, ...prepared.args], { cwd: prepared.cwd, env, stdio: [...stdio] });
    let stdout = '';
    let stderr = '';
    let seen = 0;
    let timedOut = false;
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    if (mode === 'closed-pipe') child.stdout!.destroy();
    else {
      child.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (stdout.length < OUTPUT_KEPT) stdout += chunk.toString('latin1');
        if (mode === 'head' && seen >= 10) child.stdout!.destroy();
      });
    }
    if (mode === 'stdin') {
      child.stdin!.on('error', () => { /* the command may stop reading early */ });
      child.stdin!.end(fs.readFileSync(path.join(prepared.cwd, MODEL_FILE)));
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code, signal: timedOut ? null : signal, timedOut, stdout, stderr });
    });
  });
}

/** Stand-ins for main() that break a rule on purpose (the harness's own test). */
const PLANTS: Record<Plant, () => Promise<void>> = {
  'write-input': async () => fs.appendFileSync(MODEL_FILE, 'x'),
  leftover: async () => {
    fs.writeFileSync(`.out.onnx.${process.pid}.tmp`, 'partial');
    process.stderr.write('wn-onnx: error: planted failure\n');
    process.exitCode = 1;
  },
  hang: async () => {
    for (;;) { /* a busy loop: only the parent's time limit ends it */ }
  },
  die: async () => {
    process.kill(process.pid, 'SIGKILL');
  },
};

async function runCase(config: RunConfig, index: number): Promise<WorkerReply> {
  const started = Date.now();
  lastIndex = index;
  const plan = planCase(config.seed, index, config.seeds);
  const root = path.join(config.casesDir, String(index));
  const result: CaseResult = { index, plan, args: [], detail: '', exitCode: null, failures: [], stdout: '', stderr: '', ms: 0 };
  const harnessError = (stage: string, e: unknown): Failure => ({ kind: 'harness error', detail: `${stage}: ${firstLines(e)}` });
  let outcome: Outcome | undefined;
  try {
    const seedBytes = (file: string) => fs.readFileSync(path.join(config.seedsDir, file));
    const prepared = prepareCase(plan, config.seeds, config.seedsDir, root, seedBytes);
    Object.assign(result, { args: prepared.args, detail: prepared.detail });
    send({ type: 'started', index, args: prepared.args, detail: prepared.detail });
    const before = snapshot(root);
    const limit = caseLimit(config, plan);
    const plant = config.plant;
    if (plant) outcome = await runInProcess(prepared.cwd, PLANTS[plant]);
    else if (SPAWNED_MODES.includes(plan.mode)) outcome = await runSpawned(prepared, limit);
    else outcome = await runInProcess(prepared.cwd, () => main(['node', 'wn-onnx', ...prepared.args]));
    send({ type: 'ran', index });
    const kept = config.keep ? OUTPUT_KEPT_REPRO : OUTPUT_KEPT;
    Object.assign(result, { exitCode: outcome.exitCode, stdout: outcome.stdout.slice(0, kept), stderr: outcome.stderr.slice(0, kept) });
    result.failures.push(...outcomeFailures(outcome, limit));
    if (!outcome.timedOut) {
      const outputs = new Set(prepared.outputs.map((p) => path.relative(root, p)));
      result.failures.push(...folderFailures(before, snapshot(root), outputs, outcome.exitCode === 0));
    }
  } catch (e) {
    result.failures.push(harnessError('running the case', e));
  }
  if (!config.keep) fs.rmSync(root, { recursive: true, force: true });
  result.ms = Date.now() - started;
  return { type: 'done', result, restart: !!outcome?.crash || process.memoryUsage.rss() > RSS_LIMIT };
}

if (require.main === module) {
  process.on('uncaughtException', recordError('uncaught exception'));
  process.on('unhandledRejection', recordError('unhandled rejection'));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (request: WorkerRequest) => {
    void runCase(request.config, request.index).then(send);
  });
}
