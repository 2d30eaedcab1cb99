/**
 * Checkpoint contents as bytes (the files themselves are written at the edge,
 * src/node/checkpoint.ts): the carried training tensors (parameters, optimizer state, running
 * statistics) as the initializers of an otherwise empty ONNX model, which any ONNX tool can
 * open, and the progress as JSON.
 */
import Long from 'long';
import { decodeModel, encodeModel } from '../onnx/codec';
import { floatTensor, readFloats, tensorDims } from '../tensor/values';
import { DataType } from '../onnx/enums';
import { WnError } from '../errors';
import { checkTensorData } from '../onnx/tensor-check';
import type { SavedTensor } from './trainer';
import type { EpochSummary } from './fit';

export interface Progress {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  steps: number;
  /** The settings that shape the result; a resumed run must use the same. */
  settings: Record<string, unknown>;
  history: EpochSummary[];
}

export function encodeState(tensors: readonly SavedTensor[]): Uint8Array {
  return encodeModel({
    ir_version: Long.fromNumber(8),
    producer_name: 'wn-onnx checkpoint',
    opset_import: [{ domain: '', version: Long.fromNumber(13) }],
    graph: { name: 'training_state', initializer: tensors.map((t) => floatTensor(t.name, t.type, t.dims, t.data)) },
  });
}

export function decodeState(bytes: Uint8Array, source: string): SavedTensor[] {
  let graph;
  try {
    graph = decodeModel(bytes).graph;
  } catch (e) {
    throw new WnError(`${source}: ${(e as Error).message}`);
  }
  if (!graph) throw new WnError(`${source}: not a wn-onnx training state`);
  return (graph.initializer ?? []).map((t) => {
    checkTensorData(t);
    const type = t.data_type as DataType;
    const values = readFloats(t);
    return { name: t.name ?? '', type, dims: tensorDims(t), data: type === DataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values) };
  });
}

const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;

/** Progress read back from JSON, if it has the shape `Progress` promises; else undefined. */
export function checkedProgress(value: unknown): Progress | undefined {
  const p = value as Progress;
  const object = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
  const ok = object(p) && isCount(p.epoch) && isCount(p.steps) && object(p.settings)
    && Array.isArray(p.history) && p.history.every((h) => object(h) && isCount(h.epoch));
  return ok ? p : undefined;
}

/** Names of settings that differ between a checkpoint and this run. */
export function changedSettings(saved: Record<string, unknown>, current: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(saved), ...Object.keys(current)]);
  return [...keys].filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(current[k]));
}
