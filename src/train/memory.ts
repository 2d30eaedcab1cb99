/**
 * The training step's memory, estimated before any of it is allocated, against a budget: a
 * model that cannot fit is refused in one line with the estimate, and each Conv's weight
 * gradient takes the fast im2col layout only where its gathered windows stay within a
 * sixteenth of the budget (src/autodiff/grads/conv-geometry.ts). The estimate counts what a
 * step holds at its peak, as measured on the benchmark models (bench/scale.ts):
 *  - the model's weights (the trainer keeps the model, to write the trained one back);
 *  - the carried state three times: the tensors fed, the ones ONNX Runtime returns, and
 *    their copies handed to JavaScript;
 *  - the forward values three times: kept for the backward pass, their gradients, and
 *    the backward pass's own temporaries;
 *  - the largest gathered-windows buffer of a Conv weight gradient.
 * The process itself (Node and ONNX Runtime's code, about 100 MB) is not counted.
 */
import { DataType } from '../onnx/enums';
import type { Graph } from '../ir/graph';
import type { ValueTypes } from '../ir/value-types';
import { elementCount, tensorDims } from '../tensor/values';
import { option, WnError } from '../errors';

export interface MemoryBudget {
  /** Bytes the training step may take. */
  bytes: number;
  /** The batch size it runs at (sizes every value whose batch axis varies). */
  batchRows: number;
}

export interface MemoryEstimate {
  bytes: number;
  weights: number;
  /** Parameters, optimizer state and running statistics. */
  state: number;
  /** Values of the forward pass, at the batch size. */
  activations: number;
  /** The largest gathered-windows (im2col) buffer a Conv weight gradient lays out. */
  im2col: number;
}

/** The share of the budget one Conv weight gradient's gathered windows may take. */
export const IM2COL_SHARE = 1 / 16;

const elementBytes = (type: number) => (type === DataType.DOUBLE ? 8 : type === DataType.FLOAT16 ? 2 : 4);

/** What a step of `graph` (the model before compiling) holds at its peak, with `stateBytes` of carried state. */
export function estimateStepMemory(graph: Graph, types: ValueTypes, stateBytes: number, budget: MemoryBudget): MemoryEstimate {
  const bytesOf = (name: string) => {
    const t = types.get(name);
    return t ? elementCount(t.dims.map((d) => d ?? budget.batchRows)) * elementBytes(t.type) : 0;
  };
  let weights = 0;
  for (const t of graph.initializers) weights += elementCount(tensorDims(t)) * elementBytes(t.data_type ?? DataType.FLOAT);
  let activations = 0;
  let im2col = 0;
  for (const node of graph.nodes) {
    for (const out of node.output ?? []) if (out) activations += bytesOf(out);
    const windows = gatheredWindowBytes(node.op_type ?? '', node.input ?? [], node.output ?? [], types, budget.batchRows);
    if (windows <= budget.bytes * IM2COL_SHARE) im2col = Math.max(im2col, windows);
  }
  return { bytes: weights + 3 * stateBytes + 3 * activations + im2col, weights, state: stateBytes, activations, im2col };
}

/**
 * Bytes of the windows a Conv's (or ConvTranspose's) weight gradient gathers: the channels of
 * what the windows slide over times the kernel size times the window count, per sample.
 */
export function gatheredWindowBytes(op: string, inputs: string[], outputs: string[], types: ValueTypes, batchRows: number): number {
  if (op !== 'Conv' && op !== 'ConvTranspose') return 0;
  const [x, w, y] = [types.get(inputs[0]), types.get(inputs[1]), types.get(outputs[0])];
  if (!x || !w || !y) return 0;
  // Conv: the windows slide over x and there is one per output position; ConvTranspose: the other way round
  const [signal, windows] = op === 'Conv' ? [x, y] : [y, x];
  const kernel = w.dims.slice(2);
  const perSample = (signal.dims[1] ?? 0) * elementCount(kernel.map((d) => d ?? 1)) * elementCount(windows.dims.slice(2).map((d) => d ?? 1));
  return perSample * (signal.dims[0] ?? batchRows) * elementBytes(signal.type);
}

/** A one-line refusal where the estimate passes the budget. */
export function checkStepMemory(estimate: MemoryEstimate, budget: MemoryBudget): void {
  if (estimate.bytes <= budget.bytes) return;
  const parts = `parameters and optimizer state ${size(estimate.state)} (×3: fed, returned, copied), `
    + `forward values ${size(estimate.activations)} (×3), weights ${size(estimate.weights)}, largest im2col ${size(estimate.im2col)}`;
  throw new WnError(`the training step needs about ${size(estimate.bytes)} at batch ${budget.batchRows} (${parts}), over the memory budget of `
    + `${size(budget.bytes)}; lower ${option('--batch-size')} or raise ${option('--memory-budget')}`);
}

/** Bytes as MB or GB, for messages. */
export function size(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${(bytes / 2 ** 20).toFixed(0)} MB`;
}
