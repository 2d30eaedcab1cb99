/**
 * What must hold after every case: the command ended on its own, did not crash, printed no
 * internal error or stack trace, exited 0, 1 or 2 with a one-line `wn-onnx: error:` on failure,
 * left every input byte-identical, and left nothing behind but the output it was asked for.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FAILURE_KINDS = [
  'hang', 'crash', 'internal error', 'stack trace', 'bad exit code', 'bad error line', 'changed input', 'leftover file', 'harness error',
] as const;

export type FailureKind = typeof FAILURE_KINDS[number];

export interface Failure { kind: FailureKind; detail: string }

/** How a command ended. */
export interface Outcome {
  /** null when it did not exit on its own (killed, or still running at the time limit). */
  exitCode: number | null;
  signal?: string | null;
  timedOut?: boolean;
  /** An uncaught exception, unhandled rejection or rejected main(), as text. */
  crash?: string;
  stdout: string;
  stderr: string;
}

const STACK_FRAME = '\n    at ';
const TEMPORARY = /^\..+\.tmp$/;
/** Control characters that must not reach a terminal raw in an error line (tab is harmless). */
const RAW_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

export function outcomeFailures(outcome: Outcome, limitMs: number): Failure[] {
  if (outcome.timedOut) return [{ kind: 'hang', detail: `still running after ${limitMs} ms` }];
  const failures: Failure[] = [];
  if (outcome.crash) failures.push({ kind: 'crash', detail: outcome.crash });
  if (outcome.signal) failures.push({ kind: 'crash', detail: `killed by ${outcome.signal}` });
  const stderr = lines(outcome.stderr);
  const internal = stderr.find((l) => l.includes('internal error'));
  if (internal) failures.push({ kind: 'internal error', detail: internal });
  if (outcome.stderr.includes(STACK_FRAME)) {
    failures.push({ kind: 'stack trace', detail: stderr.find((l) => l.startsWith('    at ')) ?? '' });
  }
  // ONNX Runtime logging on its own beside wn-onnx's lines: the user would get two voices, one unescaped
  const runtimeLog = stderr.find((l) => /\[[EWF]:onnxruntime/.test(l));
  if (runtimeLog) failures.push({ kind: 'bad error line', detail: `ONNX Runtime's own log line: ${JSON.stringify(runtimeLog.slice(0, 200))}` });
  const code = outcome.exitCode;
  // exit 3 is how the CLI reports an internal error: counted once, as that
  if (code !== null && ![0, 1, 2].includes(code) && !(code === 3 && internal)) {
    failures.push({ kind: 'bad exit code', detail: `exit ${code}` });
  }
  if (code === null && !outcome.signal && !outcome.crash) failures.push({ kind: 'bad exit code', detail: 'no exit code' });
  if (code !== null && code !== 0 && code !== 2 && !internal) {
    const last = outcome.stderr.replace(/\n+$/, '').split('\n').pop() ?? '';
    const shown = JSON.stringify(last.slice(0, 200));
    if (!last.startsWith('wn-onnx: error:')) failures.push({ kind: 'bad error line', detail: `exit ${code}, last stderr line: ${shown}` });
    else if (RAW_CONTROL.test(last)) failures.push({ kind: 'bad error line', detail: `raw control character in ${shown}` });
  }
  return failures;
}

interface Entry {
  type: 'file' | 'folder' | 'symlink' | 'FIFO' | 'character device' | 'block device' | 'socket';
  hash?: string;
  inode?: number;
  /** Symlinks: where they point, and the bytes of a regular file there. */
  target?: string;
}

/** Every entry under a folder by relative path, without following symlinks; devices and FIFOs are never opened. */
export type Snapshot = Map<string, Entry>;

const hashFile = (file: string) => createHash('sha1').update(fs.readFileSync(file)).digest('hex');

function entryOf(file: string): Entry {
  const stat = fs.lstatSync(file);
  if (stat.isFile()) return { type: 'file', hash: hashFile(file), inode: stat.ino };
  if (stat.isDirectory()) return { type: 'folder' };
  if (stat.isSymbolicLink()) {
    let hash: string | undefined;
    try {
      if (fs.statSync(file).isFile()) hash = hashFile(file);
    } catch { /* dangling */ }
    return { type: 'symlink', target: fs.readlinkSync(file), hash };
  }
  if (stat.isFIFO()) return { type: 'FIFO' };
  if (stat.isCharacterDevice()) return { type: 'character device' };
  return { type: stat.isBlockDevice() ? 'block device' : 'socket' };
}

export function snapshot(root: string): Snapshot {
  const entries: Snapshot = new Map();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const child = rel ? `${rel}/${name}` : name;
      const entry = entryOf(path.join(root, child));
      entries.set(child, entry);
      if (entry.type === 'folder') walk(child);
    }
  };
  walk('');
  return entries;
}

function change(before: Entry, after: Entry | undefined): string | undefined {
  if (!after) return 'removed';
  if (after.type !== before.type) return `a ${before.type} became a ${after.type}`;
  // a dangling symlink that now leads somewhere is judged by what appeared there
  if (before.hash !== after.hash && !(before.type === 'symlink' && before.hash === undefined)) {
    return before.type === 'symlink' ? 'the file it points to changed' : 'bytes changed';
  }
  if (before.inode !== after.inode) return 'replaced by another file (same bytes)';
  if (before.target !== after.target) return `now points to ${JSON.stringify(after.target)}`;
  return undefined;
}

/**
 * Input files (every file that was there) unchanged, and nothing new but the allowed outputs
 * after a success; `outputs` are paths relative to the case folder.
 */
export function folderFailures(before: Snapshot, after: Snapshot, outputs: ReadonlySet<string>, succeeded: boolean): Failure[] {
  const failures: Failure[] = [];
  const mayWrite = (rel: string) => succeeded && outputs.has(rel);
  for (const [rel, entry] of before) {
    const changed = change(entry, after.get(rel));
    if (!changed) continue;
    // a symlink or folder at OUT may be replaced by the output; a file that was there is an input
    if (mayWrite(rel) && entry.type !== 'file' && !(entry.type === 'symlink' && changed.startsWith('the file'))) continue;
    failures.push({ kind: 'changed input', detail: `${JSON.stringify(rel)}: ${changed}` });
  }
  for (const rel of after.keys()) {
    if (TEMPORARY.test(path.basename(rel))) failures.push({ kind: 'leftover file', detail: `temporary file ${JSON.stringify(rel)}` });
    else if (!before.has(rel) && !mayWrite(rel)) {
      const when = succeeded ? '(not the output)' : 'after a failure';
      failures.push({ kind: 'leftover file', detail: `${JSON.stringify(rel)} appeared ${when}` });
    }
  }
  return failures;
}
