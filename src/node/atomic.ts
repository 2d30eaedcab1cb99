/**
 * Files that appear whole or not at all: each is written under a temporary name beside its
 * final place and renamed into place once complete, so a crash or an error never leaves a
 * partial file where a reader looks (models, external data, checkpoints, plots).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WnError } from '../errors';

export interface WriteOptions {
  /** Flush to disk before the rename (survives a power loss too; slower). */
  fsync?: boolean;
}

/** A file written under its temporary name, waiting to be renamed to `final`. */
interface PendingFile { temp: string; final: string }

/** The temporary name of a file being written (or of a folder being filled): `.NAME.PID.tmp` beside it. */
export function temporaryName(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.${process.pid}.tmp`);
}

const TEMPORARY = /^\.(.*)\.(\d+)\.tmp$/;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what killed runs left in `folder`: temporary files and folders whose name starts with
 * `.PREFIX` and whose process is gone (a run that is still going keeps its own).
 */
export function removeStaleTemporaries(folder: string, prefix: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(folder);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = TEMPORARY.exec(entry);
    if (!match || !match[1].startsWith(prefix) || isRunning(Number(match[2]))) continue;
    fs.rmSync(path.join(folder, entry), { recursive: true, force: true });
  }
}

export const STDOUT = 1;

/**
 * Writes chunks in order to an open file descriptor. On standard output a failed write is a
 * one-line error (a full disk behind `> file`), except EPIPE: the reader is gone (`| head`),
 * which the command line treats as a quiet end. EAGAIN (a non-blocking pipe that is full) waits.
 */
export function writeChunks(fd: number, chunks: readonly Uint8Array[]): void {
  try {
    for (const chunk of chunks) {
      for (let written = 0; written < chunk.length;) {
        try {
          written += fs.writeSync(fd, chunk, written, chunk.length - written);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        }
      }
    }
  } catch (e) {
    const { code, message } = e as NodeJS.ErrnoException;
    if (fd !== STDOUT || code === 'EPIPE') throw e;
    const reason = code ? `${message.replace(`${code}: `, '').replace(/, write$/, '')} (${code})` : message;
    throw new WnError(`cannot write to standard output: ${reason}; check where it goes (a full disk, a closed file)`);
  }
}

/** Writes chunks (in order) to the temporary name of `final`; removes it again on failure. */
function writePending(final: string, chunks: readonly Uint8Array[], { fsync = false }: WriteOptions = {}): PendingFile {
  fs.mkdirSync(path.dirname(final), { recursive: true });
  removeStaleTemporaries(path.dirname(final), path.basename(final));
  const temp = temporaryName(final);
  const fd = fs.openSync(temp, 'w');
  try {
    writeChunks(fd, chunks);
    if (fsync) fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return { temp, final };
}

/**
 * Writes several files, then renames them into place in the order given (a model file last,
 * after the external data it points to). On any failure no temporary file is left behind.
 */
export function writeFilesAtomically(files: readonly { file: string; chunks: readonly Uint8Array[] }[], options: WriteOptions = {}): void {
  const pending: PendingFile[] = [];
  try {
    for (const { file, chunks } of files) pending.push(writePending(file, chunks, options));
    for (const { temp, final } of pending) fs.renameSync(temp, final);
  } catch (e) {
    for (const { temp } of pending) fs.rmSync(temp, { force: true });
    throw e;
  }
}

/** One file, atomically. */
export function writeFileAtomically(file: string, data: Uint8Array | string, options: WriteOptions = {}): void {
  writeFilesAtomically([{ file, chunks: [typeof data === 'string' ? new TextEncoder().encode(data) : data] }], options);
}

/** Writes a folder's files through `fill(tempFolder)`, then renames the folder into place whole. */
export function writeFolderAtomically(folder: string, fill: (temp: string) => void): void {
  const temp = temporaryName(folder);
  removeStaleTemporaries(path.dirname(folder), path.basename(folder));
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp, { recursive: true });
  try {
    fill(temp);
    fs.rmSync(folder, { recursive: true, force: true });
    fs.renameSync(temp, folder);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
}
