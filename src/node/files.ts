/**
 * Reading files the user named (models, external data, sample data, checkpoints) safely: only
 * regular files are read. The check is made with fstat on the opened descriptor (a check of the
 * path before opening could be raced), and the file is opened non-blocking so a FIFO cannot
 * stall the open itself. Reads stop at the size fstat reported, so a file that grows while it
 * is read (or a device that never ends) cannot make a read run on.
 */
import * as fs from 'node:fs';
import { WnError } from '../errors';

export interface RegularFile { fd: number; size: number }

/** What a non-regular file is, for the message that refuses it. */
function kind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

const REASONS: Record<string, string> = {
  ENOENT: 'does not exist', EACCES: 'is not readable (permission denied)', EPERM: 'is not readable (permission denied)',
  EISDIR: 'is a folder, not a file', ENAMETOOLONG: 'has a name too long for the file system',
  ENOTDIR: 'has a path through something that is not a folder', ELOOP: 'has a path with too many symbolic links',
  EMFILE: 'cannot be opened: too many open files', EIO: 'cannot be read: input/output error',
};

/** The one-line reason an fs call on a named file failed (`what "file" <reason>`). */
export function fileError(what: string, file: string, e: unknown): WnError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const reason = REASONS[code] ?? `cannot be read (${code || (e as Error).message})`;
  return new WnError(`${what} "${file}" ${reason}`);
}

/** Opens a regular file for reading; anything else (folder, FIFO, device, socket) is refused. */
export function openRegularFile(file: string, what: string): RegularFile {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(what, file, e);
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new WnError(`${what} "${file}" is ${kind(stat)}, not a regular file; give the path of a file`);
  }
  return { fd, size: stat.size };
}

/** One read call's most bytes (Node refuses 2 GiB and more at once). */
const READ_CHUNK = 1 << 30;

/**
 * Bytes offset..offset+length of an open regular file, clipped to the size it had when opened
 * (fewer bytes where it ends first), into a buffer of their own.
 */
export function readRange(file: RegularFile, offset: number, length: number): Buffer {
  const end = Math.min(file.size, offset + length);
  const bytes = Buffer.allocUnsafeSlow(Math.max(0, end - offset));
  let done = 0;
  while (done < bytes.length) {
    const n = fs.readSync(file.fd, bytes, done, Math.min(READ_CHUNK, bytes.length - done), offset + done);
    if (n === 0) break;
    done += n;
  }
  return bytes.subarray(0, done);
}

/** The whole of a regular file (refusing anything else, see openRegularFile). */
export function readRegularFile(file: string, what: string): Buffer {
  const opened = openRegularFile(file, what);
  try {
    return readRange(opened, 0, opened.size);
  } catch (e) {
    throw fileError(what, file, e);
  } finally {
    fs.closeSync(opened.fd);
  }
}

const WRITE_REASONS: Record<string, string> = {
  ENOSPC: 'no space is left on the device', EDQUOT: 'the disk quota is used up', EROFS: 'the file system is read-only',
  EACCES: 'permission denied', EPERM: 'permission denied', ENAMETOOLONG: 'the name is too long for the file system',
  EISDIR: 'it is a folder', ENOTDIR: 'its path goes through something that is not a folder', EIO: 'input/output error',
  ENOENT: 'its folder does not exist', EFBIG: 'the file is too large for the file system',
};

/** The one-line error for a failed write of a named file (a full disk, a read-only file system …). */
export function writeError(file: string, e: unknown): WnError {
  if (e instanceof WnError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new WnError(`cannot write "${file}": ${WRITE_REASONS[code] ?? `${code || (e as Error).message}`}`);
}
