/**
 * One case of the fuzzer: what it runs, planned from (run seed, case index) alone so the parent
 * can name a case it never saw finish, and the folder it runs in, prepared by the worker.
 *
 * A case folder holds `m/` (the model's folder and the command's working folder: the mutated
 * model.onnx, its external data, and x.npy for init and train, y.npy for train) and, for the tricks that need it, `outside/`
 * (a place outside the model's folder that `..` and symlinks reach).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Failure } from './checks';
import { caseRandom, type Random } from './random';
import { LABELS_FILE as SEED_LABELS, type SeedModel } from './seeds';
import {
  DATA_FILE, LABELS_FILE, MODEL_FILE, ModelFile, MUTATIONS, MUTATION_BY_NAME, show, STACKABLE, STRUCTURAL,
  charDevice, mkfifo, readsData, type CommandName, type Mutation, type MutationContext,
} from './mutations';

/**
 * How the command runs: inside a worker (`in-process`), or as a real process: with the same
 * arguments (`spawn`), reading the model from standard input, writing it to standard output,
 * into a pipe closed before it writes, or into one closed after 10 bytes (`| head -c 10`).
 */
export type Mode = 'in-process' | 'spawn' | 'stdin' | 'stdout' | 'closed-pipe' | 'head';

export const SPAWNED_MODES: readonly Mode[] = ['spawn', 'stdin', 'stdout', 'closed-pipe', 'head'];

/** Commands in turn: init, train and export-train-step (the slow ones) on one case in twenty each. */
const ROTATION: readonly CommandName[] = [
  'inspect', 'convert', 'fold', 'inspect --json', 'convert', 'fold', 'inspect', 'convert', 'fold', 'init',
  'inspect --json', 'convert', 'fold', 'inspect', 'export-train-step', 'fold', 'inspect --json', 'convert', 'fold', 'train',
];

/** Share of cases run as a real process with the same arguments (the rest run inside a worker). */
const SPAWN_SHARE = 0.05;
/** Share of inspect/convert/fold cases on standard input/output and closed pipes (always real processes). */
const STDIO_SHARE = 0.05;
/** Share of cases that stack a second edit of the model on the first. */
const STACK_SHARE = 0.15;
/** Share of cases of the rewriting commands that write to a hostile output path. */
const TRICK_SHARE = 0.25;
/** Share of init and train cases that damage the sample data rather than the model. */
const DATA_SHARE = 0.4;
/** The unmutated seed is drawn as often as this many mutations. */
const NONE_WEIGHT = 3;

export const DEFAULT_OUTPUT = 'out.onnx';

export interface CasePlan {
  seed: number;
  index: number;
  command: CommandName;
  mode: Mode;
  /** The seed model's name. */
  model: string;
  mutations: string[];
  /** The output trick (`plain`: -o out.onnx; `none`: inspect; `stdout`: -o -). */
  output: string;
}

export const writesModel = (command: CommandName) => !command.startsWith('inspect');

function pickMode(rng: Random, command: CommandName): Mode {
  const r = rng.next();
  if (!readsData(command) && r < STDIO_SHARE) {
    const inspect = !writesModel(command);
    return rng.pick(['stdin', 'stdin', inspect ? 'head' : 'stdout', 'closed-pipe'] as const);
  }
  return r > 1 - SPAWN_SHARE ? 'spawn' : 'in-process';
}

interface OutputTrick {
  name: string;
  applies(seed: SeedModel, command: CommandName): boolean;
  /** Makes what the trick needs in the model's folder; returns the -o value. */
  setup(dir: string, outside: string, rng: Random, seed: SeedModel): string;
}

const anywhere = () => true;

const OUTPUT_TRICKS: readonly OutputTrick[] = [
  { name: 'input', applies: anywhere, setup: () => MODEL_FILE },
  {
    name: 'symlink-to-input', applies: anywhere,
    setup: (dir) => (fs.symlinkSync(MODEL_FILE, path.join(dir, DEFAULT_OUTPUT)), DEFAULT_OUTPUT),
  },
  { name: 'symlinked-folder', applies: anywhere, setup: (dir) => (fs.symlinkSync('.', path.join(dir, 'here')), `here/${MODEL_FILE}`) },
  { name: 'missing-folder', applies: anywhere, setup: () => `missing/${DEFAULT_OUTPUT}` },
  {
    name: 'folder', applies: anywhere,
    setup: (dir, _outside, rng) => (rng.chance(0.5) ? '.' : (fs.mkdirSync(path.join(dir, 'outdir')), 'outdir')),
  },
  { name: 'external-data', applies: (seed) => seed.externalFiles.length > 0, setup: (_dir, _outside, _rng, seed) => seed.externalFiles[0] },
  {
    name: 'sample-data', applies: (_seed, command) => readsData(command),
    setup: (dir, _outside, rng) => rng.pick(fs.existsSync(path.join(dir, LABELS_FILE)) ? [DATA_FILE, LABELS_FILE] : [DATA_FILE]),
  },
  {
    name: 'dangling-symlink', applies: anywhere,
    setup: (dir, outside) => {
      fs.mkdirSync(outside, { recursive: true });
      fs.symlinkSync(path.join('..', path.basename(outside), 'escaped.onnx'), path.join(dir, DEFAULT_OUTPUT));
      return DEFAULT_OUTPUT;
    },
  },
  { name: 'fifo', applies: anywhere, setup: (dir) => (mkfifo(path.join(dir, DEFAULT_OUTPUT)), DEFAULT_OUTPUT) },
  { name: 'full-device', applies: anywhere, setup: (dir) => (charDevice(path.join(dir, DEFAULT_OUTPUT), 'full'), DEFAULT_OUTPUT) },
  { name: 'long-name', applies: anywhere, setup: (_dir, _outside, rng) => `${'o'.repeat(rng.pick([240, 250, 300]))}.onnx` },
  { name: 'control-chars', applies: anywhere, setup: () => 'out\x1b[31m\n.onnx' },
];

/** What case `index` of run `seed` runs: command, mode, seed model, mutations, output trick. */
export function planCase(seed: number, index: number, seeds: readonly SeedModel[]): CasePlan {
  const rng = caseRandom(seed, index, 'plan');
  const command = ROTATION[index % ROTATION.length];
  const mode = pickMode(rng, command);
  const usable = MUTATIONS.filter((m) => seeds.some((s) => m.applies(s, command)) && !(mode === 'stdin' && m.group === 'file'));
  const dataMutations = usable.filter((m) => m.group === 'data');
  const first = dataMutations.length && rng.chance(DATA_SHARE) ? rng.pick(dataMutations)
    : rng.pick([...usable, ...Array(NONE_WEIGHT - 1).fill(MUTATION_BY_NAME.get('none')!)]);
  const model = rng.pick(seeds.filter((s) => first.applies(s, command)));
  const mutations = [first.name];
  if (STRUCTURAL.includes(first.group) && rng.chance(STACK_SHARE)) {
    mutations.push(rng.pick(MUTATIONS.filter((m) => STACKABLE.includes(m.group) && m.applies(model, command) && m !== first)).name);
  }
  let output = writesModel(command) ? 'plain' : 'none';
  if (mode === 'stdout' || mode === 'closed-pipe') output = writesModel(command) ? 'stdout' : 'none';
  else if (writesModel(command) && mode !== 'stdin' && rng.chance(TRICK_SHARE)) {
    output = rng.pick(OUTPUT_TRICKS.filter((t) => t.applies(model, command))).name;
  }
  return { seed, index, command, mode, model: model.name, mutations, output };
}

export interface PreparedCase {
  plan: CasePlan;
  /** The case folder (everything the checks look at). */
  root: string;
  /** The model's folder, where the command runs. */
  cwd: string;
  /** Arguments after `wn-onnx`. */
  args: string[];
  /** What the mutations did. */
  detail: string;
  /** Paths a successful command may create or replace: OUT and OUT.data, also as reached through symlinked folders. */
  outputs: string[];
}

function commandArgs(plan: CasePlan, output: string, rng: Random): string[] {
  const model = plan.mode === 'stdin' ? '-' : MODEL_FILE;
  switch (plan.command) {
    case 'inspect': return ['inspect', model];
    case 'inspect --json': return ['inspect', model, '--json'];
    case 'init': return ['init', model, '--data', DATA_FILE, '-o', output, '--batch-size', '4'];
    case 'train': return ['train', model, '--data', DATA_FILE, '--labels', LABELS_FILE, '--epochs', '1', '--batch-size', '4', '-o', output];
    case 'export-train-step': return ['export-train-step', model, '-o', output, ...(rng.chance(0.5) ? ['--json'] : [])];
    default: {
      const extra = rng.chance(0.1) ? ['--external-threshold', rng.pick(['0', '1024', '100000'])] : [];
      return [plan.command, model, '-o', output, ...extra, ...(rng.chance(0.1) ? ['--json'] : [])];
    }
  }
}

/** OUT and OUT.data, lexically and through the real path of OUT's folder. */
function outputPaths(cwd: string, output: string, command: CommandName): string[] {
  if (output === '-') return [];
  // export-train-step also writes its start model beside the step
  if (command === 'export-train-step') return [output, `${output.replace(/\.onnx$/, '')}.start.onnx`].flatMap((o) => outputPaths(cwd, o, 'convert'));
  const lexical = path.resolve(cwd, output);
  let real = lexical;
  try {
    real = path.join(fs.realpathSync(path.dirname(lexical)), path.basename(lexical));
  } catch { /* a missing folder: only the lexical path */ }
  return [...new Set([lexical, real])].flatMap((p) => [p, `${p}.data`]);
}

/** Makes the case's folder under `root` (removed first) and returns how to run it. */
export function prepareCase(
  plan: CasePlan, seeds: readonly SeedModel[], seedsDir: string, root: string, seedBytes: (file: string) => Buffer,
): PreparedCase {
  const rng = caseRandom(plan.seed, plan.index, 'prepare');
  const seed = seeds.find((s) => s.name === plan.model)!;
  const dir = path.join(root, 'm');
  const outside = path.join(root, 'outside');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const file of seed.externalFiles) fs.copyFileSync(path.join(seedsDir, file), path.join(dir, file));
  // every file in the folder is an input of the command: labels only where train reads them
  if (readsData(plan.command)) fs.copyFileSync(path.join(seedsDir, seed.data), path.join(dir, DATA_FILE));
  if (plan.command === 'train') fs.copyFileSync(path.join(seedsDir, SEED_LABELS), path.join(dir, LABELS_FILE));
  const model = new ModelFile(seedBytes(seed.file));
  const ctx: MutationContext = { rng, seed, command: plan.command, model, dir, outside };
  const mutations = plan.mutations.map((name) => MUTATION_BY_NAME.get(name)!);
  const apply = (m: Mutation) => `${m.name}: ${m.apply(ctx)}`;
  const details = mutations.filter((m) => m.group !== 'file').map(apply);
  fs.writeFileSync(path.join(dir, MODEL_FILE), model.bytes);
  details.push(...mutations.filter((m) => m.group === 'file').map(apply));
  const trick = OUTPUT_TRICKS.find((t) => t.name === plan.output);
  const output = trick ? trick.setup(dir, outside, rng, seed) : plan.output === 'stdout' ? '-' : DEFAULT_OUTPUT;
  const args = commandArgs(plan, output, rng);
  return { plan, root, cwd: dir, args, detail: details.join('; '), outputs: writesModel(plan.command) ? outputPaths(dir, output, plan.command) : [] };
}

/** The case in one line: command, mode, seed, mutations, output trick. */
export function describePlan(plan: CasePlan): string {
  return `${plan.command} [${plan.mode}] on ${plan.model}, ${plan.mutations.join('+')}, output ${plan.output}`;
}

/** The command line of a prepared case, printable (control characters escaped, long words shortened). */
export function commandLine(args: readonly string[]): string {
  return ['wn-onnx', ...args.map((a) => (/^[\w./=-]+$/.test(a) && a.length <= 60 ? a : `"${show(a)}"`))].join(' ');
}

// ---------------------------------------------------------------- between the harness and its workers

/** Failures planted by the harness's own test instead of running the CLI (proof the checks can fail). */
export type Plant = 'write-input' | 'leftover' | 'hang' | 'die';

export interface RunConfig {
  seed: number;
  seeds: SeedModel[];
  seedsDir: string;
  /** Case folders go here, one per case index. */
  casesDir: string;
  timeoutMs: number;
  trainTimeoutMs: number;
  /** Keep case folders (--repro). */
  keep: boolean;
  plant?: Plant;
}

export interface CaseResult {
  index: number;
  plan: CasePlan;
  args: string[];
  detail: string;
  exitCode: number | null;
  failures: Failure[];
  /** The start of what the command printed. */
  stdout: string;
  stderr: string;
  ms: number;
}

export type WorkerRequest = { type: 'run'; config: RunConfig; index: number };

export type WorkerReply =
  | { type: 'started'; index: number; args: string[]; detail: string }
  /** The command has ended; the folder checks follow. */
  | { type: 'ran'; index: number }
  | { type: 'done'; result: CaseResult; restart: boolean }
  /** An exception raised after case `index` had reported. */
  | { type: 'stray'; index: number; error: string };

/** The time a case's command may take. */
export const caseLimit = (config: RunConfig, plan: CasePlan) =>
  (readsData(plan.command) || plan.command === 'export-train-step' ? config.trainTimeoutMs : config.timeoutMs);
