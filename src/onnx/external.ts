/**
 * External data (TensorProto.data_location = EXTERNAL): finding every tensor of a model,
 * resolving external payloads to in-memory views, and planning where payloads go on save.
 *
 * A resolved tensor keeps data_location = EXTERNAL and its `location` entry next to the
 * raw_data view: that is what makes "save in the input's layout" the default. File access is
 * the caller's (a `read` callback), so this module runs anywhere.
 */
import type { GraphProto, ModelProto, StringStringEntryProto, TensorProto } from './proto';
import { DataLocation } from './enums';
import { has, PROTOBUF_LIMIT, withoutFields } from './codec';
import { option, WnError } from '../errors';
import { expectedExternalBytes } from './tensor-check';

/** Calls `visit` on every TensorProto of the model: initializers, attributes, subgraphs, functions. */
export function forEachTensor(model: ModelProto, visit: (t: TensorProto) => void): void {
  const inGraph = (g: GraphProto | undefined): void => {
    if (!g) return;
    for (const t of g.initializer ?? []) visit(t);
    for (const s of g.sparse_initializer ?? []) {
      if (s.values) visit(s.values);
      if (s.indices) visit(s.indices);
    }
    inNodes(g.node);
  };
  const inNodes = (nodes: GraphProto['node']): void => {
    for (const node of nodes ?? []) {
      for (const a of node.attribute ?? []) {
        if (a.t) visit(a.t);
        for (const t of a.tensors ?? []) visit(t);
        for (const s of [...(a.sparse_tensor ? [a.sparse_tensor] : []), ...(a.sparse_tensors ?? [])]) {
          if (s.values) visit(s.values);
          if (s.indices) visit(s.indices);
        }
        inGraph(a.g);
        for (const g of a.graphs ?? []) inGraph(g);
      }
    }
  };
  inGraph(model.graph);
  for (const info of model.training_info ?? []) {
    inGraph(info.initialization);
    inGraph(info.algorithm);
  }
  for (const f of model.functions ?? []) inNodes(f.node);
}

export interface ExternalReference {
  location: string;
  offset: number;
  length?: number;
}

export function isExternal(t: TensorProto): boolean {
  return t.data_location === DataLocation.EXTERNAL;
}

function entry(t: TensorProto, key: string): string | undefined {
  return t.external_data?.find((e) => e.key === key)?.value;
}

export function externalReference(t: TensorProto): ExternalReference {
  const location = entry(t, 'location');
  if (!location) throw new WnError(`tensor "${t.name}" is marked as external data but has no location`);
  const offset = Number(entry(t, 'offset') ?? 0);
  const lengthText = entry(t, 'length');
  const length = lengthText === undefined ? undefined : Number(lengthText);
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new WnError(`tensor "${t.name}": external data offset/length "${entry(t, 'offset')}"/"${lengthText}" are not valid byte counts`);
  }
  checkLocation(t.name ?? '', location);
  return { location, offset, length };
}

/** A location must name a file inside the model's folder: relative, without `..`. */
export function checkLocation(tensor: string, location: string): void {
  const parts = location.split(/[\\/]/);
  if (location.startsWith('/') || location.startsWith('\\') || /^[A-Za-z]:/.test(location) || parts.includes('..')) {
    throw new WnError(`tensor "${tensor}": external data location "${location}" points outside the model's folder; only relative paths inside it are allowed`);
  }
}

/**
 * Reads a tensor's external bytes: `length` bytes from `offset` of the file at `location`
 * (fewer where the file ends first). The length is always the one the tensor's dims and type
 * require (checked against its `length` entry), so no read goes past what the tensor needs.
 */
export type ReadExternal = (location: string, offset: number, length: number) => Uint8Array;

/** Loads every external payload through `read` and sets it as the tensor's raw_data. */
export function resolveExternalData(model: ModelProto, read: ReadExternal): void {
  forEachTensor(model, (t) => {
    if (!isExternal(t)) return;
    const ref = externalReference(t);
    const length = expectedExternalBytes(t, ref.length);
    const bytes = read(ref.location, ref.offset, length);
    if (bytes.length < length) {
      const needed = `${ref.offset}..${ref.offset + length}`;
      throw new WnError(`tensor "${t.name}": external file "${ref.location}" ends before byte ${ref.offset + length}, but the tensor needs bytes ${needed}`);
    }
    t.raw_data = bytes;
  });
}

export interface SaveLayoutOptions {
  /** Also store inline tensors of at least this many bytes externally. */
  externalThreshold?: number;
  /** File (relative to the model) for tensors that newly go external. */
  defaultLocation?: string;
  /** Largest inline model allowed (protobuf's 2 GB by default); larger: externalize the biggest. */
  maxInlineBytes?: number;
  /** Renames locations on save (e.g. away from files the input still reads). */
  renameLocation?: (location: string) => string;
}

export interface SaveLayout {
  /** On-disk form of each tensor, for encodeModelChunks. */
  substitute?: (t: TensorProto) => TensorProto;
  /** External files by location, as chunks in order. */
  files: Map<string, Uint8Array[]>;
}

/** Large payloads start on a 4 KiB boundary so a runtime can map them. */
const ALIGN_AT_LEAST = 1 << 20;
const ALIGNMENT = 4096;

/** Decides which tensors are stored externally, where, and at which offsets. */
export function planExternalData(model: ModelProto, options: SaveLayoutOptions = {}): SaveLayout {
  const placement = new Map<TensorProto, string>();
  let inlineBytes = 0;
  const inline: TensorProto[] = [];
  forEachTensor(model, (t) => {
    const size = t.raw_data?.length ?? 0;
    if (isExternal(t)) {
      const location = entry(t, 'location') ?? '';
      placement.set(t, options.renameLocation ? options.renameLocation(location) : location);
    } else if (options.externalThreshold !== undefined && size >= options.externalThreshold && size > 0) {
      placement.set(t, options.defaultLocation ?? '');
    } else {
      inlineBytes += size;
      inline.push(t);
    }
  });
  const limit = options.maxInlineBytes ?? PROTOBUF_LIMIT - (64 << 20);
  if (inlineBytes > limit) {
    inline.sort((a, b) => (b.raw_data?.length ?? 0) - (a.raw_data?.length ?? 0));
    for (const t of inline) {
      if (inlineBytes <= limit || !t.raw_data?.length) break;
      placement.set(t, options.defaultLocation ?? '');
      inlineBytes -= t.raw_data.length;
    }
  }
  if (!placement.size) return { files: new Map() };
  if ([...placement.values()].some((l) => !l)) {
    throw new WnError(`the model needs external data (over ${Math.round(limit / 2 ** 20)} MiB inline, or ${option('externalThreshold')}) but has no file to put it in: write it to a file path, not to stdout`);
  }

  const files = new Map<string, Uint8Array[]>();
  const sizes = new Map<string, number>();
  const onDisk = new Map<TensorProto, TensorProto>();
  for (const [t, location] of placement) {
    const raw = t.raw_data;
    if (!raw) throw new WnError(`tensor "${t.name}" is external but its data was not loaded`);
    const chunks = files.get(location) ?? [];
    let offset = sizes.get(location) ?? 0;
    if (raw.length >= ALIGN_AT_LEAST && offset % ALIGNMENT) {
      const pad = ALIGNMENT - (offset % ALIGNMENT);
      chunks.push(new Uint8Array(pad));
      offset += pad;
    }
    chunks.push(raw);
    files.set(location, chunks);
    sizes.set(location, offset + raw.length);
    onDisk.set(t, externalForm(t, location, offset, raw.length));
  }
  return { substitute: (t) => onDisk.get(t) ?? t, files };
}

/** A tensor as stored externally: no payload inline, its bytes at `location` offset..offset+length. */
export function externalForm(t: TensorProto, location: string, offset: number, length: number): TensorProto {
  const kept: StringStringEntryProto[] = (t.external_data ?? []).filter((e) => !['location', 'offset', 'length', 'checksum'].includes(e.key ?? ''));
  const stored = withoutFields(t, ['raw_data', 'float_data', 'double_data', 'int32_data', 'int64_data', 'uint64_data', 'string_data']);
  stored.data_location = DataLocation.EXTERNAL;
  stored.external_data = [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(length) },
    ...kept,
  ];
  return stored;
}

/** A tensor with its payload inline (external data already loaded into raw_data). */
export function inlineAll(t: TensorProto): TensorProto {
  if (!isExternal(t)) return t;
  if (!has(t, 'raw_data')) {
    const fix = 'load the model with loadModelFile, or call resolveExternalData first';
    throw new WnError(`tensor "${t.name}" is stored in external data "${entry(t, 'location')}" that was not loaded: ${fix}`);
  }
  return withoutFields(t, ['external_data', 'data_location']);
}
