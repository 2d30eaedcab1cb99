/**
 * Output paths checked before any long work starts (training, init, a large convert): the
 * folder exists and takes a new file (probed by creating one), the path is not a folder, and it
 * is not one of the input's files, compared by real path (symlinks resolved, the output's own
 * and its folder's) and by device and inode (hard links), not as strings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { option, WnError } from '../errors';
import { fileError, writeError } from './files';
import { removeStaleTemporaries, temporaryName } from './atomic';

/** The name of the empty file that probes a folder (`.wn-onnx-probe.PID.tmp`, removed at once). */
const PROBE = 'wn-onnx-probe';

/** The file a path names once symlinks are resolved: of the path itself if it exists, else of its folder. */
export function realTarget(file: string): string {
  const target = path.resolve(file);
  try {
    return fs.realpathSync(target);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(target)), path.basename(target));
    } catch {
      return target;
    }
  }
}

/** A file's device:inode, or undefined where it cannot be stat'ed (missing, a name too long …). */
function inodeOf(file: string): string | undefined {
  try {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    return stat && `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/** Identities of files: real path, and device:inode where they exist. */
export class FileSet {
  private readonly paths = new Set<string>();
  private readonly inodes = new Set<string>();

  constructor(files: Iterable<string> = []) {
    for (const file of files) this.add(file);
  }

  add(file: string): void {
    const real = realTarget(file);
    this.paths.add(real);
    const inode = inodeOf(real);
    if (inode) this.inodes.add(inode);
  }

  has(file: string): boolean {
    const real = realTarget(file);
    if (this.paths.has(real)) return true;
    const inode = inodeOf(real);
    return !!inode && this.inodes.has(inode);
  }

  get size(): number { return this.paths.size; }
}

/** Checks a folder takes new files, by creating and removing one (access() says yes to root on a read-only mount). */
function probeFolder(folder: string, what: string): void {
  removeStaleTemporaries(folder, PROBE);
  const probe = temporaryName(path.join(folder, PROBE));
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.rmSync(probe, { force: true });
  } catch (e) {
    throw writeError(what === 'output' ? folder : `${what} ${folder}`, e);
  }
}

export interface OutputCheck {
  /** Files the input was read from; the output must not be one of them unless `inPlace`. */
  inputFiles?: FileSet;
  inPlace?: boolean;
  /** How messages name the output (`output "x"` by default; e.g. `plot`). */
  what?: string;
}

/** Checks that `file` can be written as a new file and is not the input (see the header); '-' is standard output. */
export function checkOutputFile(file: string, { inputFiles, inPlace, what = 'output' }: OutputCheck = {}): void {
  if (file === '-') return;
  const target = path.resolve(file);
  const folder = path.dirname(target);
  const folderStat = statOf(folder, `${what} "${file}": its folder`);
  if (!folderStat) throw new WnError(`cannot write ${what} "${file}": folder "${path.dirname(file)}" does not exist; create it first`);
  if (!folderStat.isDirectory()) throw new WnError(`cannot write ${what} "${file}": "${path.dirname(file)}" is not a folder`);
  const stat = statOf(target, `${what} "${file}"`);
  if (stat?.isDirectory()) throw new WnError(`cannot write ${what} "${file}": it is a folder; give a file name`);
  if (!inPlace && inputFiles?.has(file)) {
    const same = `it is ${realTarget(file)}, which this command reads (the model, its external data or its data files)`;
    if (what !== 'output') throw new WnError(`refusing to write ${what} "${file}": ${same}; choose another path`);
    throw new WnError(`refusing to overwrite an input, "${file}": ${same}; choose another output path (or ${option('inPlace')} to replace the model)`);
  }
  probeFolder(folder, what);
}

/** Checks that `dir` is, or can be made as, a folder that takes files (a checkpoint folder). */
export function checkOutputFolder(dir: string, what: string, inputFiles?: FileSet): void {
  const target = path.resolve(dir);
  const stat = statOf(target, `${what} "${dir}"`);
  if (stat && !stat.isDirectory()) throw new WnError(`${what} "${dir}" is a file, not a folder; give a folder path`);
  if (inputFiles?.has(dir)) throw new WnError(`${what} "${dir}" is one of the input model's files; choose another folder`);
  let existing = target;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  if (!fs.statSync(existing).isDirectory()) throw new WnError(`${what} "${dir}": "${existing}" is a file, not a folder`);
  probeFolder(existing, what);
}

/** fs.statSync that names the file in its error; undefined where nothing exists. */
function statOf(file: string, what: string): fs.Stats | undefined {
  try {
    return fs.statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    throw fileError(what, file, e);
  }
}
