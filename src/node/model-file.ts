/**
 * Models on disk (Node only): reading a model and its external data, and writing a model and
 * its external files atomically (temporary file + rename, model file last), never over a file
 * the input model still reads unless the caller asks for in-place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModelChunks } from '../onnx/codec';
import { planExternalData, resolveExternalData, type SaveLayoutOptions } from '../onnx/external';
import { Model } from '../ir/model';
import { validateModel } from '../ir/validate';
import { checkWeightNormMarks } from '../wn/spec';
import { WnError } from '../errors';
import { writeChunks, writeFilesAtomically } from './atomic';
import { fileError, openRegularFile, readRange, readRegularFile, writeError, type RegularFile } from './files';
import { checkOutputFile, FileSet } from './outputs';

export interface LoadedModel {
  model: Model;
  /** The files the model was read from (model file and external data), by real path and inode. */
  files: FileSet;
  /** Folder external data locations are relative to. */
  folder: string;
}

/** Reads a model file ('-' reads standard input; its external data is then relative to the working folder). */
export function loadModelFile(file: string): LoadedModel {
  const fromStdin = file === '-';
  const bytes = fromStdin ? readStdin() : readRegularFile(file, 'model file');
  if (bytes.length === 0) throw new WnError(`${fromStdin ? 'standard input' : `"${file}"`} is empty, not an ONNX model`);
  let proto;
  try {
    proto = decodeModel(bytes);
  } catch (e) {
    if (e instanceof WnError) throw new WnError(`${fromStdin ? 'standard input' : `"${file}"`}: ${e.message}`);
    throw e;
  }
  const folder = path.resolve(fromStdin ? '.' : path.dirname(file));
  const files = new FileSet(fromStdin ? [] : [file]);
  const external = new ExternalFiles(folder);
  try {
    resolveExternalData(proto, (location, offset, length) => {
      files.add(path.resolve(folder, location));
      return external.read(location, offset, length);
    });
  } finally {
    external.close();
  }
  const model = new Model(proto);
  validateModel(model);
  checkWeightNormMarks(model.graph);
  return { model, files, folder };
}

/**
 * The external data files of one model, opened once each (regular files only: a FIFO, device or
 * folder is refused, see ./files). Every tensor's bytes are read into a buffer of their own: files
 * of any size (beyond Node's 2 GiB readFile limit), only the bytes the model declares.
 */
class ExternalFiles {
  private readonly open = new Map<string, RegularFile>();

  constructor(private readonly folder: string) {}

  private file(location: string): RegularFile {
    const target = path.resolve(this.folder, location);
    let real: string;
    try {
      real = fs.realpathSync(target);
    } catch (e) {
      throw fileError(`external data file "${location}" at`, target, e);
    }
    const inside = path.relative(fs.realpathSync(this.folder), real);
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      throw new WnError(`external data file "${location}" resolves outside the model's folder (to ${real}); refusing to read it`);
    }
    let opened = this.open.get(real);
    if (!opened) {
      opened = openRegularFile(real, `external data file "${location}" at`);
      this.open.set(real, opened);
    }
    return opened;
  }

  read(location: string, offset: number, length: number): Uint8Array {
    return readRange(this.file(location), offset, length);
  }

  close(): void {
    for (const { fd } of this.open.values()) fs.closeSync(fd);
    this.open.clear();
  }
}

function readStdin(): Buffer {
  const chunks: Buffer[] = [];
  const chunk = Buffer.alloc(1 << 20);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

export interface SaveOptions extends SaveLayoutOptions {
  /** Allow writing over files the input was read from. */
  inPlace?: boolean;
  /** Files the input model was read from (see LoadedModel.files); never written over unless `inPlace`. */
  inputFiles?: FileSet | Iterable<string>;
  /**
   * Flush every file to disk before it is renamed into place, so the output survives a power
   * loss too. Off by default (like onnx.save and torch.save): the rename alone already makes the
   * output appear whole or not at all to every other process. Costs about 0.1 s per 400 MB.
   */
  fsync?: boolean;
}

/** Writes a model ('-' = standard output) and its external data files. */
export function saveModelFile(model: Model, file: string, options: SaveOptions = {}): void {
  const toStdout = file === '-';
  const inputFiles = options.inputFiles instanceof FileSet ? options.inputFiles : new FileSet(options.inputFiles);
  checkOutputFile(file, { inputFiles, inPlace: options.inPlace });
  const target = path.resolve(file);
  const folder = path.dirname(target);
  const reserved = options.inPlace ? new FileSet() : inputFiles;
  // a new external file never replaces one the input still reads
  const base = path.basename(target);
  let sideFile = `${base}.data`;
  for (let i = 1; reserved.has(path.join(folder, sideFile)); i++) sideFile = `${base}.${i}.data`;
  const layout = planExternalData(model.proto, {
    ...options,
    defaultLocation: options.defaultLocation ?? (toStdout ? undefined : sideFile),
    renameLocation: (location) => (reserved.has(path.resolve(folder, location)) ? sideFile : location),
  });
  const chunks = encodeModelChunks(model.proto, layout.substitute);
  if (toStdout) {
    writeChunks(1, chunks);
    return;
  }
  const files = [...layout.files].map(([location, fileChunks]) => ({ file: path.resolve(folder, location), chunks: fileChunks }));
  try {
    writeFilesAtomically([...files, { file: target, chunks }], { fsync: options.fsync });
  } catch (e) {
    throw writeError(file, e);
  }
}
